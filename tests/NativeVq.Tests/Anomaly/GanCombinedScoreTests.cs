using System.Text.Json.Nodes;
using NativeVq.Anomaly;
using NativeVq.Anomaly.Runs;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Anomaly;

/// <summary>
/// The GAN run's combined score: each term divided by its standard deviation on the calibration images, spreads
/// stored in score_calibration.json; a file from before that is refused with a one-line error naming it.
/// </summary>
public sealed class GanCombinedScoreTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-gancombined-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    /// <summary>Sample standard deviation in float64, written here independently of the product's.</summary>
    private static double Sd(float[] v)
    {
        double mean = v.Sum(x => (double)x) / v.Length;
        return Math.Sqrt(v.Sum(x => ((double)x - mean) * ((double)x - mean)) / (v.Length - 1));
    }

    private static void Close(double expected, double actual, double rel = 1e-5)
        => Assert.True(Math.Abs(expected - actual) <= rel * Math.Abs(expected) + 1e-9, $"expected {expected}, got {actual}");

    private static int[] Ranking(IReadOnlyList<float> v) => Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();

    [Fact]
    public void CombinedIsTheFormulaOnTheStoredCalibrationSpreadsAndRanksUnlikeTheFeatureDistance()
    {
        TinyGanRun.Make(_dir);
        var cal = RunCalibration.Read(_dir);
        float[] calRecon = cal.Scores[GanRunScorer.Recon], calFeat = cal.Scores[GanRunScorer.FeatureDistance];
        double sr = Sd(calRecon), sf = Sd(calFeat);
        Assert.NotNull(cal.Combined);
        Close(sr, cal.Combined!.ReconSpread);
        Close(sf, cal.Combined.FeatureSpread);
        Assert.Equal(0.1, cal.Combined.Alpha);
        // The stored combined calibration scores and their threshold follow from the stored recon / feature scores.
        var calCombined = cal.Scores[GanRunScorer.Combined];
        for (int i = 0; i < calCombined.Length; i++) Close(0.9 * calRecon[i] / sr + 0.1 * calFeat[i] / sf, calCombined[i]);
        Assert.Equal(NativeVq.Anomaly.Metrics.ImageLevel.ThresholdFromNormal(calCombined, 95), cal.Thresholds[GanRunScorer.Combined]);

        // A reopened run scores new images with the same formula (what eval and score use).
        var scorer = RunScorers.Open(_dir, CpuBackend.Instance)!;
        Assert.Equal(new[] { "encoder-norm", "recon", "feature-distance", "combined" }, scorer.ScoreNames);
        var test = new SyntheticTextures(24, 32, 13, anomalyFraction: 0.5f);
        var scored = RunScorers.Score(scorer, test, Enumerable.Range(0, test.Count).ToArray());
        var combined = scored.Select(s => s.Scores[GanRunScorer.Combined]).ToArray();
        var feat = scored.Select(s => s.Scores[GanRunScorer.FeatureDistance]).ToArray();
        for (int i = 0; i < scored.Count; i++) Close(0.9 * scored[i].Scores[GanRunScorer.Recon] / sr + 0.1 * feat[i] / sf, combined[i]);
        Assert.NotEqual(Ranking(feat), Ranking(combined));
    }

    [Fact]
    public void AFileFromBeforeTheNormalisationIsRefusedNamingIt()
    {
        TinyGanRun.Make(_dir);
        string path = Path.Combine(_dir, RunCalibration.FileName);
        var j = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        Assert.True(j.Remove("combined"));
        File.WriteAllText(path, j.ToJsonString());
        foreach (var open in new Action[]
                 {
                     () => RunCalibration.Read(_dir), () => RunScorers.Open(_dir, CpuBackend.Instance),
                     () => AnomalyModel.Load(_dir, CpuBackend.Instance).Dispose(),
                 })
        {
            var e = Assert.Throws<UserError>(open);
            Assert.Contains(path, e.Message);
            Assert.Contains("retrain", e.Message);
        }
    }

    [Fact]
    public void OneCalibrationImageMeasuresNoSpreadSoTheRunHasNoCombinedScore()
    {
        TinyGanRun.Make(_dir);
        var cal = RunCalibration.Write(_dir, new GanRunScorer(NativeVq.Models.GanRun.Load(_dir, CpuBackend.Instance)), TinyGanRun.Train, [0]);
        Assert.Null(cal.Combined);
        Assert.DoesNotContain(GanRunScorer.Combined, cal.Thresholds.Keys);
        Assert.Null(RunCalibration.Read(_dir).Combined);
        Assert.Equal(new[] { "encoder-norm", "recon", "feature-distance" }, RunScorers.Open(_dir, CpuBackend.Instance)!.ScoreNames);
    }
}
