using NativeVq.Data;

namespace NativeVq.Anomaly.Baselines;

/// <summary>
/// No-network baseline: the distance of every 8×8 patch of a test image to its nearest neighbour among up to
/// <see cref="MaxPatches"/> raw patches of the normal training images (all channels, L2). The search is one fused
/// GEMM + argmin on the backend (<see cref="Backend.NearestCode"/>: ‖a‖² − 2a·b + ‖b‖², the nearest-codebook
/// kernel with the patches as the codebook); the winning distance is then recomputed exactly. The pixel map
/// averages the distances of the patches covering each pixel; the image score is the largest patch distance.
/// </summary>
public sealed class NearestPatch : IBaseline
{
    public const int Patch = 8;
    public const int MaxPatches = 8000;
    private readonly Backend _backend;
    private readonly float[] _bank; // [K, D]
    private readonly int _k, _size, _channels, _stride;

    public string Name => "nearest raw patch";
    public int BankSize => _k;

    private NearestPatch(Backend backend, float[] bank, int k, int size, int channels)
    {
        _backend = backend; _bank = bank; _k = k; _size = size; _channels = channels;
        _stride = Math.Max(1, Patch / 4);
    }

    /// <summary>Patches at stride 2 from the training images, a seeded sample of at most <paramref name="maxPatches"/>.</summary>
    public static NearestPatch Fit(Backend backend, IImageDataset data, IReadOnlyList<int> indices, ulong seed, int maxPatches = MaxPatches)
    {
        int size = data.Size, c = data.Channels, d = c * Patch * Patch;
        if (size < Patch) throw new UserError($"the nearest-patch baseline needs images of at least {Patch} px, got {size}");
        if (indices.Count == 0) throw new ArgumentException("the nearest-patch baseline needs training images");
        var positions = Positions(size, Math.Max(1, Patch / 4));
        long total = (long)indices.Count * positions.Count;
        // A seeded sample of (image, position) pairs without replacement.
        var rng = new Rng(seed ^ 0x9A7C4E5UL);
        var chosen = new HashSet<long>();
        int k = (int)Math.Min(total, maxPatches);
        if (k == total) for (long t = 0; t < total; t++) chosen.Add(t);
        else while (chosen.Count < k) chosen.Add((long)(rng.NextDouble() * total) % total);
        var picks = chosen.Order().ToArray();
        var bank = new float[k * d];
        var img = new float[c * size * size];
        int lastImage = -1;
        for (int j = 0; j < k; j++)
        {
            int im = (int)(picks[j] / positions.Count), pos = (int)(picks[j] % positions.Count);
            if (im != lastImage) { data.Load(indices[im], img); lastImage = im; }
            Extract(img, c, size, positions[pos], bank.AsSpan(j * d, d));
        }
        return new NearestPatch(backend, bank, k, size, c);
    }

    public (float[] Scores, float[][] Maps) ScoreAll(IImageDataset data, IReadOnlyList<int> indices)
    {
        int d = _channels * Patch * Patch;
        var positions = Positions(_size, _stride);
        int np = positions.Count;
        var scores = new float[indices.Count];
        var maps = new float[indices.Count][];
        const int batch = 16;
        using var scope = new TensorScope();
        var bank = Tensor.FromArray(_backend, _bank, _k, d);
        var img = new float[_channels * _size * _size];
        for (int s = 0; s < indices.Count; s += batch)
        {
            int n = Math.Min(batch, indices.Count - s);
            // z laid out like a latent [n, D, positions]: channel-major per image, as the kernel expects.
            var z = new float[n * d * np];
            var patch = new float[d];
            for (int i = 0; i < n; i++)
            {
                data.Load(indices[s + i], img);
                for (int q = 0; q < np; q++)
                {
                    Extract(img, _channels, _size, positions[q], patch);
                    for (int j = 0; j < d; j++) z[(i * d + j) * np + q] = patch[j];
                }
            }
            int[] nearest;
            using (var inner = new TensorScope())
                nearest = F.NearestCode(Tensor.FromArray(_backend, z, n, d, np), bank).ToIntArray();
            for (int i = 0; i < n; i++)
            {
                var dist = new float[np];
                for (int q = 0; q < np; q++)
                {
                    int b = nearest[i * np + q];
                    double acc = 0;
                    for (int j = 0; j < d; j++)
                    {
                        double diff = z[(i * d + j) * np + q] - _bank[b * d + j];
                        acc += diff * diff;
                    }
                    dist[q] = (float)Math.Sqrt(acc);
                }
                scores[s + i] = dist.Max();
                maps[s + i] = Spread(dist, positions);
            }
        }
        return (scores, maps);
    }

    /// <summary>Top-left corners of the patches, stride <paramref name="stride"/>, the last row/column flush with the border.</summary>
    private static List<(int Y, int X)> Positions(int size, int stride)
    {
        var starts = new List<int>();
        for (int v = 0; v + Patch <= size; v += stride) starts.Add(v);
        if (starts[^1] != size - Patch) starts.Add(size - Patch);
        return starts.SelectMany(y => starts.Select(x => (y, x))).ToList();
    }

    private static void Extract(float[] img, int channels, int size, (int Y, int X) at, Span<float> dst)
    {
        int hw = size * size, o = 0;
        for (int c = 0; c < channels; c++)
            for (int dy = 0; dy < Patch; dy++)
                for (int dx = 0; dx < Patch; dx++)
                    dst[o++] = img[c * hw + (at.Y + dy) * size + at.X + dx];
    }

    /// <summary>Each pixel: the mean distance of the patches that cover it.</summary>
    private float[] Spread(float[] dist, List<(int Y, int X)> positions)
    {
        var sum = new float[_size * _size];
        var count = new int[_size * _size];
        for (int q = 0; q < positions.Count; q++)
            for (int dy = 0; dy < Patch; dy++)
                for (int dx = 0; dx < Patch; dx++)
                {
                    int p = (positions[q].Y + dy) * _size + positions[q].X + dx;
                    sum[p] += dist[q];
                    count[p]++;
                }
        for (int p = 0; p < sum.Length; p++) sum[p] /= Math.Max(1, count[p]);
        return sum;
    }
}
