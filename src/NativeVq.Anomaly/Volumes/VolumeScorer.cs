using NativeVq.Anomaly.Scoring;
using NativeVq.Data;
using NativeVq.Data.Volumes;
using NativeVq.Models;

namespace NativeVq.Anomaly.Volumes;

/// <summary>How the slices' sample scores become one score per volume.</summary>
public enum SampleAggregation
{
    /// <summary>Σ over slices: the MOOD score Σ_i NLL_i·[NLL_i &gt; λ] taken over every code of the volume (default).</summary>
    Sum,
    /// <summary>The largest slice score (the most anomalous slice).</summary>
    Max,
    /// <summary>The mean over the slices scored.</summary>
    Mean,
}

/// <summary>Options of volume scoring beyond the 2D ones (<see cref="ScoringOptions"/>).</summary>
public sealed record VolumeScoringOptions
{
    public VolumeOptions Slicing { get; init; } = new();
    public SampleAggregation Aggregation { get; init; } = SampleAggregation.Sum;

    public static SampleAggregation ParseAggregation(string s) => s.ToLowerInvariant() switch
    {
        "sum" => SampleAggregation.Sum,
        "max" => SampleAggregation.Max,
        "mean" => SampleAggregation.Mean,
        _ => throw new UserError($"--aggregate must be sum, max or mean, got '{s}'"),
    };
}

/// <summary>One volume scored: the voxel map in the input's geometry, the sample score, and the per-slice details.</summary>
public sealed record VolumeScore(
    string Name,
    Volume Input,
    /// <summary>The axis the slices were cut across (0 x, 1 y, 2 z).</summary>
    int Axis,
    /// <summary>Side of the model's slices (the stack's resolution).</summary>
    int Size,
    /// <summary>Float voxel scores, same shape and header geometry as <see cref="Input"/>.</summary>
    Volume VoxelMap,
    double SampleScore,
    /// <summary>Sample score of every slice (0 for skipped empty slices).</summary>
    double[] SliceScores,
    /// <summary>Per slice: the 2D scoring result at the model's resolution, or null for a skipped empty slice.</summary>
    ImageScore?[] Slices,
    /// <summary>The smoothed stack at the model's resolution [slices][size·size].</summary>
    float[][] SmoothedMaps,
    double Seconds);

/// <summary>
/// Slice-wise scoring of a volume (the MOOD paper's setting): the volume is normalised and cut into slices
/// (<see cref="VolumeSlicing"/>), every slice is scored by the 2D method (sample score, restorations, |x − r| map,
/// no 2D smoothing), the maps are stacked, smoothed in 3D (min-pool then average-pool, the windows of
/// <see cref="ScoringOptions.MinPool"/>/<see cref="ScoringOptions.AvgPool"/> in slice pixels and slices; MOOD's 3 and 7 when not given — made for brain volumes, not scaled like the 2D maps), and every
/// slice's map is resampled back to the slice's own size and written into a volume with the input's header.
/// Restoration streams: slice k uses image index k (so a volume scores the same alone or in a folder).
/// </summary>
public sealed class VolumeScorer
{
    private readonly AnomalyScorer _slices;
    private readonly ScoringOptions _options;
    private readonly VolumeScoringOptions _volume;
    private readonly int _size;

    public VolumeScorer(VqVae vq, PixelSnail prior, double lambda, double tau, ScoringOptions options, IRestorer restorer, VolumeScoringOptions volume)
    {
        options.Validate();
        volume.Slicing.Validate();
        if (vq.Config.ImageChannels != 1)
            throw new UserError($"volumes are grayscale, but the model was trained on {vq.Config.ImageChannels}-channel images");
        _options = options;
        _volume = volume;
        _size = vq.Config.ImageSize;
        // The 2D scorer makes raw maps; the smoothing happens once, in 3D.
        _slices = new AnomalyScorer(vq, prior, lambda, tau, options with { MinPool = 1, AvgPool = 1 }, restorer);
    }

    public double Lambda => _slices.Lambda;
    public double Tau => _slices.Tau;

    public VolumeScore Score(string path, string name, Action<int, int>? sliceProgress = null)
        => Score(NiftiFile.Read(path, _volume.Slicing.MaxVoxels), name, sliceProgress);

    public VolumeScore Score(Volume vol, string name, Action<int, int>? sliceProgress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var o = _volume.Slicing;
        int axis = o.Axis, n = vol.Extent(axis), hw = _size * _size;
        var norm = VolumeSlicing.Normalize(vol, o);
        var kept = Enumerable.Range(0, n).Where(k => !o.SkipEmpty || !VolumeSlicing.IsEmpty(vol, norm, axis, k)).ToArray();
        var images = new float[n][];
        foreach (var k in kept) images[k] = VolumeSlicing.SliceImage(vol, norm, axis, k, _size);
        var data = new SliceSet(images, name, axis, _size);
        var scored = kept.Length == 0 ? [] : _slices.Score(data, kept, maps: true, done => sliceProgress?.Invoke(done, kept.Length));

        var perSlice = new ImageScore?[n];
        var sliceScores = new double[n];
        var stack = new float[n * hw];
        for (int j = 0; j < kept.Length; j++)
        {
            perSlice[kept[j]] = scored[j];
            sliceScores[kept[j]] = scored[j].SampleScore;
            scored[j].Map!.CopyTo(stack, kept[j] * hw);
        }
        var smooth = VolumeSmoothing.Smooth(stack, n, _size, _size, _options.MinPool ?? ScoringOptions.MoodMinPool, _options.AvgPool ?? ScoringOptions.MoodAvgPool);
        var maps = new float[n][];
        var voxels = new float[vol.Data.LongLength];
        var (rows, cols) = vol.SliceShape(axis);
        for (int k = 0; k < n; k++)
        {
            maps[k] = smooth.AsSpan(k * hw, hw).ToArray();
            vol.SetSlice(voxels, axis, k, VolumeSlicing.MapBack(maps[k], _size, rows, cols));
        }
        double sample = Aggregate(sliceScores, perSlice.Select(x => x is not null).ToArray(), _volume.Aggregation);
        return new VolumeScore(name, vol, axis, _size, vol.WithData(voxels), sample, sliceScores, perSlice, maps, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The volume's sample score from its slices' scores (<paramref name="scored"/>: slices not skipped); 0 when none was scored.</summary>
    public static double Aggregate(double[] sliceScores, bool[] scored, SampleAggregation aggregation)
    {
        var kept = Enumerable.Range(0, sliceScores.Length).Where(k => scored[k]).Select(k => sliceScores[k]).ToArray();
        if (kept.Length == 0) return 0;
        return aggregation switch
        {
            SampleAggregation.Sum => kept.Sum(),
            SampleAggregation.Max => kept.Max(),
            _ => kept.Average(),
        };
    }

    /// <summary>
    /// Writes the MOOD submission files for one case: <c>out/pixel/NAME</c> (float32 voxel scores, same shape and
    /// affine as the input; gzip when NAME ends in .gz) and <c>out/sample/NAME.txt</c> (the sample score). Both atomic.
    /// </summary>
    public static (string Pixel, string Sample) WriteMood(string outDir, string fileName, VolumeScore s)
    {
        var pixel = Path.Combine(outDir, "pixel", fileName);
        var sample = Path.Combine(outDir, "sample", fileName + ".txt");
        NiftiFile.Write(pixel, s.VoxelMap);
        var text = System.Text.Encoding.ASCII.GetBytes(s.SampleScore.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "\n");
        ImageIO.WriteAtomic(sample, st => st.Write(text));
        return (pixel, sample);
    }

    /// <summary>The slice images of one volume as a dataset; index = slice number (null = skipped empty slice).</summary>
    private sealed class SliceSet(float[]?[] images, string name, int axis, int size) : IImageDataset
    {
        public int Count => images.Length;
        public int Channels => 1;
        public int Size => size;
        public void Load(int index, Span<float> chw) => images[index]!.CopyTo(chw);
        public string NameOf(int index) => $"{name}:{"xyz"[axis]}{index:D3}";
        public int LabelOf(int index) => -1;
    }
}
