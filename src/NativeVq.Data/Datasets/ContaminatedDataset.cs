namespace NativeVq.Data;

/// <summary>
/// A training set with a seeded fraction of its images replaced by images of other classes (`--contamination P`,
/// the contaminated-training study of the third source paper): round(P·n) positions of <c>clean</c>, chosen by a
/// seeded shuffle, hold instead images drawn without repetition from <c>pool</c> (the other classes' training
/// images). Names and labels are those of the images actually held, so a replaced image is visible as such.
/// </summary>
public sealed class ContaminatedDataset : IImageDataset
{
    private readonly IImageDataset _clean, _pool;
    private readonly int[] _fromPool;   // per position: index into the pool, or -1 = the clean image

    private ContaminatedDataset(IImageDataset clean, IImageDataset pool, double fraction, ulong seed, int[] fromPool, int[] replaced)
    {
        _clean = clean; _pool = pool; _fromPool = fromPool;
        Fraction = fraction; Seed = seed; ReplacedPositions = replaced;
    }

    public double Fraction { get; }
    public ulong Seed { get; }
    /// <summary>Positions (sorted) that hold an image of another class.</summary>
    public IReadOnlyList<int> ReplacedPositions { get; }
    public int Replaced => ReplacedPositions.Count;

    /// <summary>Replaces round(<paramref name="fraction"/>·n) images (half away from zero); 0 ≤ fraction &lt; 1.</summary>
    public static ContaminatedDataset Create(IImageDataset clean, IImageDataset pool, double fraction, ulong seed)
    {
        if (!(fraction >= 0 && fraction < 1)) throw new UserError($"--contamination must be in [0, 1), got {fraction}");
        if (pool.Channels != clean.Channels || pool.Size != clean.Size) throw new ArgumentException("contamination pool has another image shape");
        int k = (int)Math.Round(fraction * clean.Count, MidpointRounding.AwayFromZero);
        if (k > pool.Count) throw new UserError($"--contamination {fraction}: {k} replacement images are needed but only {pool.Count} images of other classes exist");
        var rng = new Rng(seed ^ 0xC0DA111A7EUL);
        var positions = Enumerable.Range(0, clean.Count).ToArray();
        rng.Shuffle(positions);
        var picks = Enumerable.Range(0, pool.Count).ToArray();
        rng.Shuffle(picks);
        var fromPool = Enumerable.Repeat(-1, clean.Count).ToArray();
        for (int j = 0; j < k; j++) fromPool[positions[j]] = picks[j];
        var replaced = positions.Take(k).Order().ToArray();
        return new ContaminatedDataset(clean, pool, fraction, seed, fromPool, replaced);
    }

    public int Count => _clean.Count;
    public int Channels => _clean.Channels;
    public int Size => _clean.Size;

    public void Load(int index, Span<float> chw)
    {
        int p = _fromPool[index];
        if (p < 0) _clean.Load(index, chw);
        else _pool.Load(p, chw);
    }

    public string NameOf(int index) => _fromPool[index] is var p and >= 0 ? _pool.NameOf(p) : _clean.NameOf(index);
    public int LabelOf(int index) => _fromPool[index] is var p and >= 0 ? _pool.LabelOf(p) : _clean.LabelOf(index);
}
