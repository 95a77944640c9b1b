using System.Text.Json.Nodes;
using NativeVq.Data;

namespace NativeVq.Models.Training;

/// <summary>A set of VQ-VAE code maps [N, H, W] with the labels of the images they came from.</summary>
public sealed record CodeMaps(int[] Codes, int[] Labels, int Count, int Height, int Width)
{
    public int PerMap => Height * Width;

    public CodeMaps Take(IReadOnlyList<int> indices)
    {
        var codes = new int[indices.Count * PerMap];
        var labels = new int[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Array.Copy(Codes, indices[i] * PerMap, codes, i * PerMap, PerMap);
            labels[i] = Labels[indices[i]];
        }
        return new CodeMaps(codes, labels, indices.Count, Height, Width);
    }

    /// <summary>These maps followed by <paramref name="more"/> (same grid), e.g. originals then augmented versions.</summary>
    public CodeMaps Concat(CodeMaps more)
    {
        if (more.Height != Height || more.Width != Width) throw new ArgumentException($"cannot join {Height}x{Width} and {more.Height}x{more.Width} code maps");
        return new CodeMaps([.. Codes, .. more.Codes], [.. Labels, .. more.Labels], Count + more.Count, Height, Width);
    }

    /// <summary>Encodes every image of <paramref name="data"/> with the VQ-VAE (inference, in batches), reporting each batch to <paramref name="progress"/> under <paramref name="label"/>.</summary>
    public static CodeMaps Encode(VqVae vq, IImageDataset data, Backend backend, int batch = 256, string label = "encode", IProgress<TrainingProgress>? progress = null)
    {
        if (data.Size != vq.Config.ImageSize || data.Channels != vq.Config.ImageChannels)
            throw new UserError($"the data gives {data.Channels}x{data.Size}x{data.Size} images but the VQ-VAE expects {vq.Config.ImageChannels}x{vq.Config.ImageSize}x{vq.Config.ImageSize} (set --size/--channels)");
        int lat = vq.Config.LatentSize, per = data.Channels * data.Size * data.Size, bs = Math.Max(1, batch);
        var codes = new int[data.Count * lat * lat];
        var labels = new int[data.Count];
        var stage = new ProgressStage(progress, label, (data.Count + bs - 1) / bs);
        var buf = new float[bs * per];
        for (int s = 0, b = 0; s < data.Count; s += bs, b++)
        {
            int n = Math.Min(bs, data.Count - s);
            Parallel.For(0, n, i => data.Load(s + i, buf.AsSpan(i * per, per)));
            for (int i = 0; i < n; i++) labels[s + i] = data.LabelOf(s + i);
            using var scope = new TensorScope();
            vq.EncodeCodes(Tensor.FromArray(backend, buf.AsSpan(0, n * per), n, data.Channels, data.Size, data.Size)).ToIntArray().CopyTo(codes, s * lat * lat);
            stage.Update(b + 1, s + n, "");
        }
        stage.Finish($"{data.Count} images");
        return new CodeMaps(codes, labels, data.Count, lat, lat);
    }

    /// <summary>Saves as an NVQ file of kind "codes" (tensors codes, labels), with <paramref name="source"/> describing what was encoded.</summary>
    public void Save(string path, JsonObject source)
    {
        using var scope = new TensorScope();
        var cpu = NativeVq.Cpu.CpuBackend.Instance;
        NvqFile.Write(path, "codes", source,
            [("codes", Tensor.FromArray(cpu, Codes, Count, Height, Width)), ("labels", Tensor.FromArray(cpu, Labels, Count))],
            new JsonObject());
    }

    public static CodeMaps Load(string path)
    {
        var f = NvqFile.Read(path);
        f.RequireKind("codes");
        var c = f.ByName["codes"];
        return new CodeMaps(c.I32!, f.ByName["labels"].I32!, c.Shape[0], c.Shape[1], c.Shape[2]);
    }

    /// <summary>The source description stored with a cache file, or null when there is none.</summary>
    public static JsonObject? SourceOf(string path) => File.Exists(path) ? NvqFile.ReadHeader(path).Config : null;
}
