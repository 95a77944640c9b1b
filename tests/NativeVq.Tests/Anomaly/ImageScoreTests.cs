using NativeVq.Anomaly.Metrics;
using NativeVq.Anomaly.Scoring;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Anomaly;

public sealed class ImageScoreTests
{
    private static ImageScore Scored(float[] nll, double recon = 0, float[]? map = null, float[]? input = null)
        => new("x", 0, 0, nll.Sum(v => (double)v), recon, 0, input ?? new float[16], new float[16], null, map, nll, 1);

    [Fact]
    public void SingleScoresAreTheirDefinitions()
    {
        var s = Scored([1, 8, 3, 9], recon: 0.5, map: Enumerable.Range(0, 200).Select(i => (float)i).ToArray());
        Assert.Equal(17, new ImageScorer("mood", 7).Score(s), 6);
        Assert.Equal(5.25, new ImageScorer("mean-nll", 7).Score(s), 6);
        Assert.Equal(9, new ImageScorer("max-nll", 7).Score(s), 6);
        Assert.Equal(0.5, new ImageScorer("recon", 7).Score(s), 6);
        Assert.Equal(198.5, new ImageScorer("map-topk", 7).Score(s), 6);   // top 1 % of 200 = the 2 largest
        Assert.True(new ImageScorer("map-topk", 7).NeedsMaps);
        Assert.False(new ImageScorer("mood", 7).NeedsCalibration);
    }

    [Fact]
    public void UnknownScoreIsAUserError()
    {
        var e = Assert.Throws<UserError>(() => new ImageScorer("mood+bogus", 7));
        Assert.Contains("bogus", e.Message);
        Assert.Contains("map-topk", e.Message);
    }

    [Fact]
    public void RankNormalisationIsAMonotoneCdfOfTheCalibrationValues()
    {
        double[] sorted = [1, 2, 4, 8];
        Assert.Equal(0, ImageScorer.Normalise(sorted, 1), 9);
        Assert.Equal(1, ImageScorer.Normalise(sorted, 8), 9);
        Assert.Equal(0.5, ImageScorer.Normalise(sorted, 3), 9);          // halfway between ranks 1 and 2 of 0..3
        Assert.Equal(1 + 7 / 7.0, ImageScorer.Normalise(sorted, 15), 9); // linear past the largest: no ties among anomalies
        Assert.True(ImageScorer.Normalise(sorted, 0) < 0);
        Assert.Equal(0.5, ImageScorer.Normalise([2, 2, 2], 2), 9);
    }

    [Fact]
    public void CombinationSumsPartsOnOneScale()
    {
        // Two parts with very different units: normalised, each contributes on [0, 1] over the calibration normals.
        var cal = Enumerable.Range(0, 11).Select(i => Scored([i, 0, 0, 0], recon: 1000 * (10 - i))).ToList();
        var combo = new ImageScorer("max-nll+recon", 100);
        Assert.True(combo.NeedsCalibration);
        Assert.Throws<InvalidOperationException>(() => combo.Score(cal[0]));
        combo.Calibrate(cal);
        // Calibration image i: max-nll rank i/10, recon rank (10−i)/10: every one sums to 1.
        Assert.All(cal, c => Assert.Equal(1, combo.Score(c), 9));
        Assert.Equal(2 + 0.5, combo.Score(Scored([20, 0, 0, 0], recon: 5000)), 9);
    }

    [Fact]
    public void ComplexityCorrectionRemovesTheLengthTrendOfTheCalibrationNormals()
    {
        // NLL = 0.1 · compressed bits on the normals: after fitting, β = 0.1 and the normals score alike, while an
        // image with the same length but a higher NLL scores higher.
        var rng = new Rng(2);
        var inputs = Enumerable.Range(0, 8).Select(k => Enumerable.Range(0, 64).Select(i => i % (k + 2) == 0 ? rng.NextFloat() : 0f).ToArray()).ToArray();
        var cal = inputs.Select(x => { double bits = ImageScoreValues.CompressedBits(x); return Scored([(float)(0.1 * bits * Math.Log(2)), 0, 0, 0], input: x); }).ToList();
        var s = new ImageScorer("complexity", 7);
        s.Calibrate(cal);
        Assert.Equal(0.1, s.Beta, 4);
        var values = cal.Select(s.Score).ToArray();
        Assert.True(values.Max() - values.Min() < 1e-3);
        var odd = Scored([(float)(cal[3].TotalNll + 5), 0, 0, 0], input: inputs[3]);
        Assert.True(s.Score(odd) > values.Max() + 5);
        Assert.True(ImageScoreValues.CompressedBits(new float[256]) < ImageScoreValues.CompressedBits(inputs[0].Concat(inputs[1]).Concat(inputs[2]).Concat(inputs[3]).ToArray()));
    }

    [Fact]
    public void ComplexityWeightIsNeverNegativeSoSimpleOutliersStayAnomalous()
    {
        // Calibration normals whose NLL falls bit for bit as their compressed length grows (a free fit gives β = −1,
        // and every normal then scores 10000). An all-zero input compresses to far fewer bits than any normal; with
        // β = −1 its score would be its NLL minus the normals' length gap, below the normals although its NLL is
        // above all of theirs. Clamped at 0, the score is the NLL and the input ranks above every normal.
        var rng = new Rng(3);
        var inputs = Enumerable.Range(0, 8).Select(k => Enumerable.Range(0, 256).Select(i => i % (k + 2) == 0 ? rng.NextFloat() : 0f).ToArray()).ToArray();
        var cal = inputs.Select(x => Scored([(float)((10000 - ImageScoreValues.CompressedBits(x)) * Math.Log(2)), 0, 0, 0], input: x)).ToList();
        var s = new ImageScorer("complexity", 7);
        s.Calibrate(cal);
        Assert.Equal(0, s.Beta);
        double maxBits = cal.Max(c => c.TotalNll) / Math.Log(2);
        var simple = Scored([(float)((maxBits + 50) * Math.Log(2)), 0, 0, 0], input: new float[256]);
        Assert.True(ImageScoreValues.CompressedBits(new float[256]) + 50 < inputs.Min(ImageScoreValues.CompressedBits));
        Assert.True(s.Score(simple) > cal.Max(s.Score));
    }

    [Theory]
    [InlineData(3, 32, 1)]
    [InlineData(7, 32, 1)]
    [InlineData(7, 64, 3)]
    [InlineData(3, 128, 3)]
    [InlineData(7, 128, 7)]
    [InlineData(7, 256, 15)]
    public void SmoothingWindowsScaleWithTheImageSize(int mood, int size, int expected)
        => Assert.Equal(expected, ScoringOptions.ScaledWindow(mood, size));

    [Fact]
    public void ExplicitWindowsOverrideTheScaledOnes()
    {
        var o = new ScoringOptions { MinPool = 3, AvgPool = 7 };
        Assert.Equal((3, 7), (o.MinPoolFor(32), o.AvgPoolFor(32)));
        var auto = new ScoringOptions();
        Assert.Equal((1, 1), (auto.MinPoolFor(32), auto.AvgPoolFor(32)));
    }

    [Fact]
    public void CalibrationSplitTakesAShareWithAMinimumAndNeverMoreThanHalf()
    {
        Assert.Equal(100, CalibrationSplit.Choose(800, 0.1, 100, 1).Length);   // 80 < the minimum
        Assert.Equal(300, CalibrationSplit.Choose(3000, 0.1, 100, 1).Length);  // the share
        Assert.Equal(10, CalibrationSplit.Choose(20, 0.1, 100, 1).Length);     // at most half
        var a = CalibrationSplit.Choose(800, 0.1, 100, 1);
        Assert.Equal(a, CalibrationSplit.Choose(800, 0.1, 100, 1));           // seeded
        Assert.NotEqual(a, CalibrationSplit.Choose(800, 0.1, 100, 2));
        Assert.Equal(a.Length, a.Distinct().Count());
        Assert.Throws<UserError>(() => CalibrationSplit.Choose(10, 1.5, 1, 1));
    }

    [Fact]
    public void MeasuredFalsePositiveRateFollowsTheCalibratedPercentile()
    {
        // Calibration and test normals from the same distribution: the p90 threshold flags about 10 % of the test normals.
        var rng = new Rng(11);
        var cal = Enumerable.Range(0, 2000).Select(_ => rng.NextFloat()).ToArray();
        var normals = Enumerable.Range(0, 4000).Select(_ => rng.NextFloat()).ToArray();
        var anomalies = Enumerable.Range(0, 100).Select(_ => 2f + rng.NextFloat()).ToArray();
        var defects = normals.Select(_ => "good").Concat(anomalies.Select(_ => "bad")).ToArray();
        var r = Evaluation.Evaluate(new EvaluationInput(defects, normals.Concat(anomalies).ToArray(), NormalValidationScores: cal),
            new EvaluationOptions { ThresholdPercentile = 90 });
        Assert.InRange(r.Overall.Image.AtThreshold!.Fpr, 0.08, 0.12);
        Assert.Equal(1, r.Overall.Image.AtThreshold.Tpr);
    }
}
