using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Anomaly.Scoring;

/// <summary>
/// The VQ-VAE encoder's continuous outputs z_e (before quantisation) of the images the models trained on, for the
/// `knn` image score: an image's Euclidean distance in z_e space to its nearest training image. The encoder places
/// other digits (or other textures) away from every training image even where the prior finds their codes likely;
/// on MNIST one-vs-rest it is the strongest single score measured (docs/results.md, issue 13 round 4).
/// Stored as feature_bank.bin next to the checkpoints, tied to the VQ-VAE checkpoint it was encoded with.
/// </summary>
public sealed class FeatureBank
{
    public const string FileName = "feature_bank.bin";
    private static readonly byte[] Magic = "NVQFB001"u8.ToArray();
    private readonly float[][] _rows;

    private FeatureBank(float[][] rows, string vqHash)
    {
        _rows = rows;
        VqVaeHash = vqHash;
    }

    /// <summary>A bank of given rows (features already computed, e.g. by <see cref="Rows"/>).</summary>
    public static FeatureBank FromRows(float[][] rows, string vqHash = "")
    {
        if (rows.Length == 0 || rows.Any(r => r.Length == 0 || r.Length != rows[0].Length)) throw new ArgumentException("a feature bank needs at least one row, all of one non-zero length", nameof(rows));
        return new FeatureBank(rows, vqHash);
    }

    public int Count => _rows.Length;
    public int Dim => _rows.Length == 0 ? 0 : _rows[0].Length;
    /// <summary>SHA-256 of the vqvae.nvq the features were encoded with ("" when built from a model in memory).</summary>
    public string VqVaeHash { get; }

    /// <summary>Encodes <paramref name="indices"/> of <paramref name="data"/> (the training images) with <paramref name="vq"/>.</summary>
    public static FeatureBank Build(VqVae vq, IImageDataset data, IReadOnlyList<int> indices, string vqHash = "")
    {
        if (indices.Count == 0) throw new UserError("the knn feature bank needs at least one training image");
        int per = data.Channels * data.Size * data.Size;
        var rows = new List<float[]>(indices.Count);
        using var noGrad = Autograd.NoGrad();
        vq.Eval();
        const int batch = 64;
        var x = new float[batch * per];
        for (int s = 0; s < indices.Count; s += batch)
        {
            int n = Math.Min(batch, indices.Count - s);
            Parallel.For(0, n, k => data.Load(indices[s + k], x.AsSpan(k * per, per)));
            using var scope = new TensorScope();
            var z = vq.Encode(Tensor.FromArray(vq.Backend, x.AsSpan(0, n * per), n, data.Channels, data.Size, data.Size)).ToArray();
            rows.AddRange(Rows(z, n, vq.Config.LatentSize));
        }
        return FromRows(rows.ToArray(), vqHash);
    }

    /// <summary>Largest side of the feature grid: bigger latent grids are average-pooled down to it.</summary>
    public const int MaxGrid = 8;

    /// <summary>
    /// z_e of n images [n, D, lat, lat] as n flat rows [D, g, g], average-pooled in ⌈lat/8⌉-sized cells so a row
    /// stays ≤ 64·D floats at any image size (at 256 px a raw 64x64x64 z_e would be 1 MB per training image).
    /// Grids of 8x8 or less (MNIST, 32 px) are kept as they are.
    /// </summary>
    public static float[][] Rows(float[] z, int n, int lat)
    {
        int dim = z.Length / n, d = dim / (lat * lat);
        if (d * lat * lat * n != z.Length) throw new InvalidOperationException($"z_e of {z.Length} floats is not {n} x D x {lat} x {lat}");
        int f = (lat + MaxGrid - 1) / MaxGrid, g = (lat + f - 1) / f;
        var rows = new float[n][];
        for (int k = 0; k < n; k++)
        {
            var row = rows[k] = new float[d * g * g];
            var src = z.AsSpan(k * dim, dim);
            for (int c = 0; c < d; c++)
                for (int gy = 0; gy < g; gy++)
                    for (int gx = 0; gx < g; gx++)
                    {
                        double sum = 0; int cnt = 0;
                        for (int y = gy * f; y < Math.Min(lat, gy * f + f); y++)
                            for (int x = gx * f; x < Math.Min(lat, gx * f + f); x++) { sum += src[(c * lat + y) * lat + x]; cnt++; }
                        row[(c * g + gy) * g + gx] = (float)(sum / cnt);
                    }
        }
        return rows;
    }

    /// <summary>Euclidean distance from <paramref name="z"/> to the nearest row of the bank.</summary>
    public double Nearest(ReadOnlySpan<float> z)
    {
        if (z.Length != Dim) throw new InvalidOperationException($"feature of length {z.Length} against a bank of {Dim}");
        double best = double.PositiveInfinity;
        foreach (var row in _rows) best = Math.Min(best, SquaredDistance(z, row));
        return Math.Sqrt(best);
    }

    private static double SquaredDistance(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int w = Vector<float>.Count, i = 0;
        var acc = Vector<float>.Zero;
        for (; i <= a.Length - w; i += w) { var d = new Vector<float>(a.Slice(i, w)) - new Vector<float>(b.Slice(i, w)); acc += d * d; }
        double s = Vector.Sum(acc);
        for (; i < a.Length; i++) { double d = a[i] - b[i]; s += d * d; }
        return s;
    }

    /// <summary>SHA-256 (hex) of the run's vqvae.nvq, "" when it has none.</summary>
    public static string VqVaeHashOf(string runDir)
    {
        var path = Path.Combine(runDir, VqVaeTrainer.CheckpointName);
        return File.Exists(path) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant() : "";
    }

    /// <summary>Writes feature_bank.bin atomically (temporary file, then rename).</summary>
    public void Write(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        var tmp = path + ".tmp";
        using (var w = new BinaryWriter(File.Create(tmp), Encoding.UTF8))
        {
            w.Write(Magic);
            w.Write(VqVaeHash);
            w.Write(Count);
            w.Write(Dim);
            foreach (var row in _rows) w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()));
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The run's bank when it exists and was encoded by the run's current VQ-VAE; else null.</summary>
    public static FeatureBank? Read(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            using var r = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
            if (!r.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic)) throw new UserError($"{path} is not a nativevq feature bank: recalibrate with `nativevq calibrate --model {runDir}`");
            var hash = r.ReadString();
            if (hash != VqVaeHashOf(runDir)) return null;   // the VQ-VAE was retrained after the bank was written
            int count = r.ReadInt32(), dim = r.ReadInt32();
            if (count < 1 || dim < 1 || (long)count * dim * 4 != r.BaseStream.Length - r.BaseStream.Position)
                throw new UserError($"{path} is truncated or corrupt (header says {count} x {dim} floats): recalibrate with `nativevq calibrate --model {runDir}`");
            var rows = new float[count][];
            for (int i = 0; i < count; i++)
            {
                rows[i] = new float[dim];
                r.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows[i].AsSpan()));
            }
            return new FeatureBank(rows, hash);
        }
        catch (EndOfStreamException)
        {
            throw new UserError($"{path} is truncated: recalibrate with `nativevq calibrate --model {runDir}`");
        }
    }
}
