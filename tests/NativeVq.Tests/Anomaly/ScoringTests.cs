using NativeVq.Anomaly.Evaluation;
using NativeVq.Anomaly.Scoring;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Anomaly;

public sealed class ScoringTests
{
    [Fact]
    public void SampleScoreSumsOnlyTheCodesAboveLambda()
    {
        float[] nll = [1f, 7.5f, 3f, 9f, 7f];
        Assert.Equal(16.5, LatentScores.SampleScore(nll, 7.0), 5);   // 7.5 + 9; 7 is not above 7
        Assert.Equal(0, LatentScores.SampleScore(nll, 10));
    }

    [Fact]
    public void ThresholdRuleMarksEveryCodeAboveTau()
    {
        float[] nll = [6, 1, 1,
                       1, 6, 1,
                       1, 1, 1];
        var m = LatentScores.ResampleMask(nll, 3, 3, 5, ResampleRule.Threshold);
        Assert.Equal(new[] { true, false, false, false, true, false, false, false, false }, m);
    }

    [Fact]
    public void NeighbourRuleNeedsAnUnlikelyCodeInTheBottomHalfOfTheNeighbourhood()
    {
        // (0,0): (1,1) below-right is above τ, kept. (0,2): (1,1) below-left, kept. (1,1): (2,2) below-right, kept.
        // (2,2): nothing to its right or below, dropped — an isolated unlikely code.
        float[] nll = [6, 1, 6,
                       1, 6, 1,
                       1, 1, 6];
        var m = LatentScores.ResampleMask(nll, 3, 3, 5, ResampleRule.Neighbour);
        Assert.Equal(new[] { true, false, true, false, true, false, false, false, false }, m);
        float[] lone = [1, 1, 1,
                        1, 6, 1,
                        1, 1, 1];
        Assert.All(LatentScores.ResampleMask(lone, 3, 3, 5, ResampleRule.Neighbour), Assert.False);
    }

    [Fact]
    public void PixelMapWeightsRestorationsThatStayCloseToTheInput()
    {
        var input = new float[4];
        var close = new float[] { 0.1f, 0, 0, 0 };
        var far = new float[] { 1f, 1f, 1f, 1f };
        var soft = PixelMaps.FromRestorations(input, input, [close, far], 1, 2, softmax: true, c: 3f);
        var mean = PixelMaps.FromRestorations(input, input, [close, far], 1, 2, softmax: false, c: 3f);
        // Plain mean: (0.1 + 1) / 2 at pixel 0. Softmax: weights ∝ exp(-3·0.025), exp(-3·1).
        Assert.Equal(0.55f, mean[0], 5);
        double w1 = Math.Exp(-3 * 0.025), w2 = Math.Exp(-3 * 1.0);
        Assert.Equal((float)((w1 * 0.1 + w2 * 1) / (w1 + w2)), soft[0], 5);
        Assert.True(soft[1] < mean[1]);
    }

    [Fact]
    public void SmoothingRemovesIsolatedPixelsAndKeepsBlobs()
    {
        int n = 16;
        var map = new float[n * n];
        map[2 * n + 2] = 1f;                                   // isolated pixel: the 3x3 min-pool removes it
        for (int y = 8; y < 13; y++) for (int x = 8; x < 13; x++) map[y * n + x] = 1f;   // 5x5 blob survives
        var s = PixelMaps.Smooth(map, n, 3, 7);
        Assert.Equal(0f, s[2 * n + 2]);
        Assert.True(s[10 * n + 10] > 0.1f);
        Assert.Equal(map.Length, s.Length);
    }

    [Fact]
    public void ScorerProducesMapsScoresAndTimingsForEveryImage()
    {
        var b = CpuBackend.Instance;
        var vq = new VqVae(b, new VqVaeConfig { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 8, ImageSize = 16 }, 1);
        var prior = new PixelSnail(b, new PixelSnailConfig { Codes = 8, Height = 4, Width = 4, Channels = 8, KeyDim = 4, ValueDim = 8 }, 2);
        var data = new SyntheticTextures(6, 16, 3, anomalyFraction: 0.5f);
        var scorer = new AnomalyScorer(vq, prior, lambda: 1.0, tau: 1.5, new ScoringOptions { Restorations = 3 }, RestorerFactory.Fast());
        var scores = scorer.Score(data, Enumerable.Range(0, 6).ToArray(), maps: true);
        Assert.Equal(6, scores.Count);
        foreach (var s in scores)
        {
            Assert.Equal(16 * 16, s.Map!.Length);
            Assert.All(s.Map, v => Assert.True(float.IsFinite(v) && v >= 0));
            Assert.Equal(16, s.NllGrid.Length);
            Assert.Equal(s.NllGrid.Where(v => v > 1.0).Sum(v => (double)v), s.SampleScore, 3);
            Assert.True(s.Milliseconds > 0);
        }
        // Same seed, same scores and maps.
        var again = scorer.Score(data, Enumerable.Range(0, 6).ToArray(), maps: true);
        Assert.Equal(scores.Select(s => s.Map!).SelectMany(m => m), again.Select(s => s.Map!).SelectMany(m => m));
    }

    [Fact]
    public void EvaluationOfSyntheticSetHasImageAndPixelMetrics()
    {
        var b = CpuBackend.Instance;
        var vq = new VqVae(b, new VqVaeConfig { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 8, ImageSize = 16 }, 1);
        var prior = new PixelSnail(b, new PixelSnailConfig { Codes = 8, Height = 4, Width = 4, Channels = 8, KeyDim = 4, ValueDim = 8 }, 2);
        var set = EvalSet.Synthetic(new SyntheticTextures(10, 16, 5, anomalyFraction: 0.5f));
        var scorer = new AnomalyScorer(vq, prior, 1.0, 1.5, new ScoringOptions { Restorations = 2 }, RestorerFactory.Fast());
        // Normal training textures: the first 4 are the calibration images, the other 8 fit the baselines.
        var train = new SyntheticTextures(12, 16, 9);
        var reference = new EvaluationReference(train, [0, 1, 2, 3], Enumerable.Range(4, 8).ToArray());
        var run = AnomalyEvaluation.Run(scorer, set, reference, null, new EvaluationSettings { ImageScore = "mood+map-topk" });
        Assert.InRange(run.Sample.Overall.Image.Auroc, 0, 1);
        Assert.NotNull(run.Sample.Overall.Pixel);
        Assert.Equal(4, run.Sample.Threshold!.NormalValidationImages);
        Assert.NotNull(run.Fpr);
        Assert.Equal(0.05, run.Fpr!.ExpectedFpr, 9);
        Assert.Equal(["local-statistics Gaussian", "nearest raw patch"], run.Baselines.Select(b => b.Name));
        Assert.All(run.Baselines, b => Assert.NotNull(b.Result.Overall.Pixel));
        Assert.Contains("complexity", run.ImageScoreAurocs.Keys);
        var dir = Path.Combine(Path.GetTempPath(), "nvq-rep-" + Guid.NewGuid().ToString("N"));
        try
        {
            var html = AnomalyEvaluation.WriteReport(dir, set, run, new Dictionary<string, string>());
            Assert.True(File.Exists(html));
            Assert.True(File.Exists(Path.Combine(dir, "metrics.json")));
            Assert.True(File.Exists(Path.Combine(dir, "baseline_metrics.json")));
            var json = File.ReadAllText(Path.Combine(dir, "metrics.json"));
            Assert.Contains("\"falsePositiveRate\"", json);
            Assert.Contains("nearest raw patch", json);
            Assert.Contains("False-positive rate at the threshold", File.ReadAllText(html));
        }
        finally { Directory.Delete(dir, true); }
    }
}

public sealed class PriorTrainerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-prior-" + Guid.NewGuid().ToString("N"));
    private static readonly PixelSnailConfig Small = new() { Codes = 6, Height = 4, Width = 4, Channels = 8, KeyDim = 4, ValueDim = 8, Dropout = 0.1f };

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private static CodeMaps Maps(int n, int seed)
    {
        var rng = new Rng((ulong)seed);
        var codes = Enumerable.Range(0, n * 16).Select(i => (i % 4 == 0) ? rng.NextInt(6) : i % 3).ToArray();
        return new CodeMaps(codes, new int[n], n, 4, 4);
    }

    /// <summary>20 images in 2 versions (as augmentation gives), dropout, AdamW, cosine rate, best-epoch tracking.</summary>
    private PixelSnail Train(string name, int maxSteps = 0, bool resume = false) => new PriorTrainer(CpuBackend.Instance, Maps(40, 1), Maps(5, 2), Small,
        new PriorTrainOptions
        {
            Out = Path.Combine(_dir, name), Epochs = 3, Batch = 8, Lr = 3e-3f, Schedule = "cosine", Seed = 4, MaxSteps = maxSteps, Resume = resume,
            WeightDecay = 0.05f, KeepBest = true, Patience = 5, Versions = 2,
        }).Run();

    [Fact]
    public void InterruptedAndResumedPriorEqualsAnUninterruptedOne()
    {
        // 20 images / batch 8 = 3 steps an epoch: stop in epoch 2, after the first epoch's best weights were saved.
        var full = Train("full").Parameters().SelectMany(p => p.ToArray()).ToArray();
        Train("split", maxSteps: 4);
        Assert.True(File.Exists(Path.Combine(_dir, "split", PriorTrainer.BestName)));
        var resumed = Train("split", resume: true).Parameters().SelectMany(p => p.ToArray()).ToArray();
        Assert.Equal(full, resumed);
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "full", PriorTrainer.MetricsName)).Split('\n').Select(StripSeconds),
            File.ReadAllText(Path.Combine(_dir, "split", PriorTrainer.MetricsName)).Split('\n').Select(StripSeconds));
        Assert.False(File.Exists(Path.Combine(_dir, "split", PriorTrainer.BestName)));   // the final prior.nvq holds the kept weights
    }

    /// <summary>The metrics line without its wall-clock field.</summary>
    private static string StripSeconds(string line) => System.Text.RegularExpressions.Regex.Replace(line, "\"seconds\":[^,}]*", "");

    [Fact]
    public void CalibrationHoldsThresholdsFromHeldOutNll()
    {
        Train("cal");
        var cal = ModelStore.LoadCalibration(Path.Combine(_dir, "cal"));
        Assert.True(cal.Lambda >= cal.Tau);   // p98 ≥ p90
        Assert.Equal(5, cal.HeldOutScores.Length);
        var loaded = ModelStore.LoadPrior(Path.Combine(_dir, "cal"), CpuBackend.Instance);
        Assert.Equal(Small, loaded.Config);
    }

    [Fact]
    public void PercentileInterpolatesLikeNumpy()
    {
        float[] v = [1, 2, 3, 4];
        Assert.Equal(2.5, PriorTrainer.Percentile(v, 50), 6);
        Assert.Equal(3.7, PriorTrainer.Percentile(v, 90), 5);
        Assert.Equal(4, PriorTrainer.Percentile(v, 100), 6);
    }
}
