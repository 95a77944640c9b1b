using NativeVq.Anomaly.Scoring;
using NativeVq.Anomaly.Volumes;
using NativeVq.Cpu;
using NativeVq.Data.Volumes;
using NativeVq.Models;

namespace NativeVq.Tests.Anomaly;

public sealed class VolumeScoringTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-vscore-" + Guid.NewGuid().ToString("N"));

    public VolumeScoringTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private static VolumeScorer Scorer(SampleAggregation agg = SampleAggregation.Sum, int minPool = 1, int avgPool = 1, bool skipEmpty = true)
    {
        var b = CpuBackend.Instance;
        var vq = new VqVae(b, new VqVaeConfig { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 8, ImageSize = 16 }, 1);
        var prior = new PixelSnail(b, new PixelSnailConfig { Codes = 8, Height = 4, Width = 4, Channels = 8, KeyDim = 4, ValueDim = 8 }, 2);
        return new VolumeScorer(vq, prior, 1.0, 1.5, new ScoringOptions { Restorations = 2, MinPool = minPool, AvgPool = avgPool }, RestorerFactory.Fast(),
            new VolumeScoringOptions { Aggregation = agg, Slicing = new VolumeOptions { SkipEmpty = skipEmpty } });
    }

    [Fact]
    public void SmoothingIsTheBruteForce3DMinThenAveragePool()
    {
        int d = 4, h = 5, w = 6;
        var rng = new Rng(9);
        var x = Enumerable.Range(0, d * h * w).Select(_ => rng.NextFloat()).ToArray();
        var got = VolumeSmoothing.Smooth(x, d, h, w, 3, 5);
        var min = Pool(x, d, h, w, 3, true);
        var want = Pool(min, d, h, w, 5, false);
        for (int i = 0; i < want.Length; i++) Assert.Equal(want[i], got[i], 5);
        Assert.Equal(x, VolumeSmoothing.Smooth(x, d, h, w, 1, 1));
    }

    private static float[] Pool(float[] s, int d, int h, int w, int win, bool min)
    {
        int r = win / 2;
        var o = new float[s.Length];
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double acc = min ? double.PositiveInfinity : 0; int n = 0;
                    for (int dz = -r; dz <= r; dz++)
                        for (int dy = -r; dy <= r; dy++)
                            for (int dx = -r; dx <= r; dx++)
                            {
                                int zz = z + dz, yy = y + dy, xx = x + dx;
                                if (zz < 0 || zz >= d || yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                                float v = s[(zz * h + yy) * w + xx];
                                acc = min ? Math.Min(acc, v) : acc + v; n++;
                            }
                    o[(z * h + y) * w + x] = (float)(min ? acc : acc / n);
                }
        return o;
    }

    [Fact]
    public void VoxelMapHasTheInputsShapeAndGeometryAndSampleScoreAggregatesSlices()
    {
        // A 20x12x9 phantom-like volume (non-square slices, resized to 16x16 and back) with a non-trivial affine.
        var (ph, _, _) = new PhantomVolumes(20, 3).Generate(0);
        var data = new float[20 * 12 * 9];
        for (int z = 0; z < 9; z++)
            for (int y = 0; y < 12; y++)
                for (int x = 0; x < 20; x++) data[x + 20 * (y + 12 * z)] = z is 0 or 8 ? 0 : ph.Data[x + 20 * (y + 4 + 20 * (z + 6))];
        var src = Path.Combine(_dir, "case.nii");
        File.WriteAllBytes(src, new NativeVq.Tests.Data.NiftiBytes { Dim = [3, 20, 12, 9, 1, 1, 1, 1], Datatype = 16, Bitpix = 32, Values = data.Select(v => (double)v).ToArray() }.Build());
        var input = NiftiFile.Read(src);

        var s = Scorer().Score(src, "case.nii");
        Assert.Equal((20, 12, 9), (s.VoxelMap.Nx, s.VoxelMap.Ny, s.VoxelMap.Nz));
        Assert.All(s.VoxelMap.Data, v => Assert.True(float.IsFinite(v) && v >= 0));
        int kept = s.Slices.Count(x => x is not null);
        Assert.Equal(7, kept); // z = 0 and 8 are all background
        Assert.Equal(s.SliceScores.Sum(), s.SampleScore, 6);
        for (int k = 0; k < 9; k++)
        {
            bool empty = VolumeSlicing.IsEmpty(input, VolumeSlicing.Normalize(input, new VolumeOptions()), 2, k);
            Assert.Equal(empty, s.Slices[k] is null);
            if (empty) Assert.All(input.Slice(2, k, s.VoxelMap.Data), v => Assert.Equal(0f, v)); // skipped slices score 0 (no smoothing here)
        }
        Assert.Equal(Math.Round(s.SliceScores.Max(), 6), Math.Round(Scorer(SampleAggregation.Max).Score(src, "case.nii").SampleScore, 6));
        var mean = Scorer(SampleAggregation.Mean).Score(src, "case.nii").SampleScore;
        Assert.Equal(s.SampleScore / kept, mean, 6);

        // MOOD files: same geometry as the input, float32, plus the sample score as text.
        var smooth = Scorer(minPool: 3, avgPool: 3).Score(src, "case.nii");
        var (pixel, sample) = VolumeScorer.WriteMood(Path.Combine(_dir, "out"), "case.nii.gz", smooth);
        Assert.Equal(Path.Combine(_dir, "out", "pixel", "case.nii.gz"), pixel);
        var back = NiftiFile.Read(pixel);
        Assert.Equal(NiftiType.Float32, back.Header.Datatype);
        Assert.Equal(input.Header.Srow, back.Header.Srow);
        Assert.Equal(input.Header.Qform, back.Header.Qform);
        Assert.Equal(input.Header.Spacing, back.Header.Spacing);
        Assert.Equal(smooth.VoxelMap.Data, back.Data);
        Assert.Equal(smooth.SampleScore, double.Parse(File.ReadAllText(sample), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "out"), "*.tmp", SearchOption.AllDirectories));
        // Same seed, same map.
        Assert.Equal(smooth.VoxelMap.Data, Scorer(minPool: 3, avgPool: 3).Score(src, "case.nii").VoxelMap.Data);
    }

    [Fact]
    public void EvaluationReportsSampleAndVoxelMetricsAndRefusesMissingLabels()
    {
        var data = Path.Combine(_dir, "toy");
        var labels = data + "_label";
        // c0: normal, no mask file; c1: normal, an all-zero mask and no sample file; c2, c3: artefacts with masks.
        int anomalous = 0;
        for (int i = 0; i < 4; i++)
        {
            var (v, mask, _) = new PhantomVolumes(16, 4, anomalyFraction: i < 2 ? 0f : 1f).Generate(i);
            if (i == 1) mask = new float[v.Data.Length];
            NiftiFile.Write(Path.Combine(data, $"c{i}.nii.gz"), v);
            if (mask is not null) NiftiFile.Write(Path.Combine(labels, "pixel", $"c{i}.nii.gz"), v.WithData(mask), NiftiType.UInt8);
            bool bad = mask?.Any(m => m > 0) ?? false;
            anomalous += bad ? 1 : 0;
            if (i != 1) File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(labels, "sample")).FullName, $"c{i}.nii.gz.txt"), bad ? "1\n" : "0\n");
        }
        Assert.Equal(labels, VolumeEvaluation.DefaultLabels(data));
        var run = VolumeEvaluation.Run(Scorer(minPool: 3, avgPool: 3), data, labels, NiftiFile.DefaultMaxVoxels);
        Assert.Equal(4, run.Metrics.Cases);
        Assert.Equal(anomalous, run.Metrics.AnomalousCases);
        Assert.Equal(4L * 16 * 16 * 16, run.Metrics.Voxels);
        Assert.Equal(2, anomalous);
        Assert.InRange(run.Metrics.VoxelAp, 0, 1);
        Assert.InRange(run.Metrics.VoxelAuroc, 0, 1);
        Assert.InRange(run.Metrics.SampleAp, 0, 1);
        Assert.Equal(["sum", "max", "mean"], run.Metrics.ByAggregation.Select(a => a.Aggregation));
        Assert.Equal(run.Metrics.SampleAp, run.Metrics.ByAggregation[0].SampleAp); // the scorer aggregates by sum
        Assert.All(run.Cases, c => Assert.Equal(c.SampleScore, c.ByAggregation["sum"]));
        var html = VolumeEvaluation.WriteReport(Path.Combine(_dir, "report"), run, new Dictionary<string, string>());
        Assert.Contains("voxel AP", File.ReadAllText(html));
        Assert.True(File.Exists(Path.Combine(_dir, "report", "volume_metrics.json")));

        File.WriteAllText(Path.Combine(labels, "sample", "c0.nii.gz.txt"), "1\n");
        Assert.Contains("c0.nii.gz", Assert.Throws<UserError>(() => VolumeEvaluation.Run(Scorer(), data, labels, NiftiFile.DefaultMaxVoxels)).Message);
        File.WriteAllText(Path.Combine(labels, "sample", "c0.nii.gz.txt"), "maybe");
        Assert.Contains("must be 0 or 1", Assert.Throws<UserError>(() => VolumeEvaluation.Run(Scorer(), data, labels, NiftiFile.DefaultMaxVoxels)).Message);
        File.WriteAllText(Path.Combine(labels, "sample", "c0.nii.gz.txt"), "0");
        NiftiFile.Write(Path.Combine(labels, "pixel", "c2.nii.gz"), Volume.Create(8, 8, 8), NiftiType.UInt8);
        Assert.Contains("mask is 8x8x8", Assert.Throws<UserError>(() => VolumeEvaluation.Run(Scorer(), data, labels, NiftiFile.DefaultMaxVoxels)).Message);
    }
}
