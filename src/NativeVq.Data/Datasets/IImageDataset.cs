namespace NativeVq.Data;

/// <summary>
/// A fixed, ordered set of images of one shape [Channels, Size, Size], values in [-1, 1].
/// Implementations must be safe for concurrent <see cref="Load"/> calls on different indices (the batch loader
/// decodes in the background and may decode several images of a batch in parallel).
/// </summary>
public interface IImageDataset
{
    int Count { get; }
    int Channels { get; }
    int Size { get; }
    /// <summary>Writes image <paramref name="index"/> as CHW floats into <paramref name="chw"/> (length C*S*S).</summary>
    void Load(int index, Span<float> chw);
    /// <summary>A human-readable name (relative path, or "idx:1234").</summary>
    string NameOf(int index);
    /// <summary>Class for IDX; 0 normal / 1 anomalous for MVTec test; -1 unknown.</summary>
    int LabelOf(int index);
}

/// <summary>A view of some indices of another dataset (train/validation splits, one class of MNIST...).</summary>
public sealed class SubsetDataset(IImageDataset inner, IReadOnlyList<int> indices) : IImageDataset
{
    private readonly int[] _indices = Validate(inner, indices);

    private static int[] Validate(IImageDataset inner, IReadOnlyList<int> indices)
    {
        foreach (var i in indices)
            if ((uint)i >= (uint)inner.Count) throw new ArgumentOutOfRangeException(nameof(indices), $"index {i} outside a dataset of {inner.Count}");
        return indices.ToArray();
    }

    public IImageDataset Inner => inner;
    public IReadOnlyList<int> Indices => _indices;
    public int Count => _indices.Length;
    public int Channels => inner.Channels;
    public int Size => inner.Size;
    public void Load(int index, Span<float> chw) => inner.Load(_indices[index], chw);
    public string NameOf(int index) => inner.NameOf(_indices[index]);
    public int LabelOf(int index) => inner.LabelOf(_indices[index]);
}

public static class DatasetExtensions
{
    public static float[] Load(this IImageDataset ds, int index)
    {
        var a = new float[ds.Channels * ds.Size * ds.Size];
        ds.Load(index, a);
        return a;
    }

    /// <summary>Indices whose label satisfies <paramref name="keep"/>.</summary>
    public static SubsetDataset Where(this IImageDataset ds, Func<int, bool> keep)
        => new(ds, Enumerable.Range(0, ds.Count).Where(i => keep(ds.LabelOf(i))).ToArray());

    /// <summary>
    /// Deterministic per-label split: the first <paramref name="fraction"/> of each label (in dataset order) goes
    /// to the first part, the rest to the second (the MNIST README's "first 80 % of each class for training").
    /// </summary>
    public static (SubsetDataset First, SubsetDataset Second) SplitPerLabel(this IImageDataset ds, double fraction)
    {
        if (fraction is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(fraction));
        var byLabel = Enumerable.Range(0, ds.Count).GroupBy(ds.LabelOf).ToList();
        var first = new List<int>(); var rest = new List<int>();
        foreach (var g in byLabel)
        {
            var idx = g.ToList();
            int k = (int)Math.Round(idx.Count * fraction);
            first.AddRange(idx.Take(k)); rest.AddRange(idx.Skip(k));
        }
        first.Sort(); rest.Sort();
        return (new SubsetDataset(ds, first), new SubsetDataset(ds, rest));
    }
}
