using NativeVq.Anomaly.Metrics;

namespace NativeVq.Tests.Anomaly;

public sealed class ImageMetricsTests
{
    private static bool[] L(params int[] y) => y.Select(v => v != 0).ToArray();

    /// <summary>O(n²) Mann–Whitney: fraction of (anomalous, normal) pairs ranked right, ties count ½.</summary>
    private static double BrutePairs(float[] s, bool[] y)
    {
        double sum = 0; long pairs = 0;
        for (int i = 0; i < s.Length; i++)
            if (y[i])
                for (int j = 0; j < s.Length; j++)
                    if (!y[j]) { pairs++; sum += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0; }
        return sum / pairs;
    }

    [Fact]
    public void Auroc_sklearn_example()
        => Assert.Equal(0.75, ImageLevel.Auroc([0.1f, 0.4f, 0.35f, 0.8f], L(0, 0, 1, 1)), 12);

    [Fact]
    public void Auroc_ties_use_average_ranks()
    {
        // pairs: (0.8,0.5)=1 (0.8,0.2)=1 (0.5,0.5)=½ (0.5,0.2)=1 → 3.5/4
        Assert.Equal(0.875, ImageLevel.Auroc([0.8f, 0.5f, 0.5f, 0.2f], L(1, 1, 0, 0)), 12);
    }

    [Fact]
    public void Auroc_all_equal_scores_is_half()
        => Assert.Equal(0.5, ImageLevel.Auroc([3f, 3f, 3f, 3f, 3f], L(1, 0, 0, 1, 0)), 12);

    [Fact]
    public void Auroc_perfect_and_inverted()
    {
        float[] s = [0.1f, 0.2f, 0.3f, 0.9f, 1.5f];
        Assert.Equal(1.0, ImageLevel.Auroc(s, L(0, 0, 0, 1, 1)), 12);
        Assert.Equal(0.0, ImageLevel.Auroc(s, L(1, 1, 1, 0, 0)), 12);
    }

    [Fact]
    public void Auroc_one_class_is_nan_and_nan_scores_are_refused()
    {
        Assert.True(double.IsNaN(ImageLevel.Auroc([1f, 2f], L(0, 0))));
        Assert.True(double.IsNaN(ImageLevel.Auroc([1f, 2f], L(1, 1))));
        Assert.Throws<ArgumentException>(() => ImageLevel.Auroc([1f, float.NaN], L(0, 1)));
    }

    [Theory]
    [InlineData(7, 40)]
    [InlineData(11, 300)]
    [InlineData(13, 3000)] // above the radix-sort cut-off
    public void Auroc_matches_brute_force_pair_count(int seed, int n)
    {
        var rng = new Random(seed);
        // Quantised scores of both signs (incl. -0 and +0) make many ties.
        var s = Enumerable.Range(0, n).Select(_ => rng.Next(-20, 21) * 0.25f).Select(v => v == 0 && rng.Next(2) == 0 ? -0f : v).ToArray();
        var y = Enumerable.Range(0, n).Select(i => rng.NextDouble() < 0.3 + 0.02 * s[i]).ToArray();
        Assert.Equal(BrutePairs(s, y), ImageLevel.Auroc(s, y), 12);
        var cont = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2e6 - 1e6)).ToArray();
        Assert.Equal(BrutePairs(cont, y), ImageLevel.Auroc(cont, y), 12);
    }

    [Fact]
    public void Roc_curve_points()
    {
        var roc = ImageLevel.Roc([0.1f, 0.4f, 0.35f, 0.8f], L(0, 0, 1, 1));
        Assert.Equal([0, 0, 0.5, 0.5, 1], roc.Fpr);
        Assert.Equal([0, 0.5, 0.5, 1, 1], roc.Tpr);
        Assert.Equal([float.PositiveInfinity, 0.8f, 0.4f, 0.35f, 0.1f], roc.Thresholds);
    }

    [Fact]
    public void Average_precision_hand_cases()
    {
        // sklearn docs: AP = 0.5·1 + 0.5·(2/3)
        Assert.Equal(0.5 + 0.5 * 2 / 3.0, ImageLevel.AveragePrecision([0.1f, 0.4f, 0.35f, 0.8f], L(0, 0, 1, 1)), 12);
        // tie at the top: t=0.5 → P=½, R=½; t=0.2 → P=⅔, R=1
        Assert.Equal(0.25 + 0.5 * 2 / 3.0, ImageLevel.AveragePrecision([0.5f, 0.5f, 0.2f], L(1, 0, 1)), 12);
        Assert.Equal(1.0, ImageLevel.AveragePrecision([0.9f, 0.8f, 0.1f], L(1, 1, 0)), 12);
        // all equal: one threshold, precision = prevalence
        Assert.Equal(0.4, ImageLevel.AveragePrecision([1f, 1f, 1f, 1f, 1f], L(1, 0, 1, 0, 0)), 12);
    }

    [Fact]
    public void F1_max_hand_case()
    {
        // t=0.8: 2/3, t=0.4: 1/2, t=0.35: 4/5, t=0.1: 2/3
        var (f1, t) = ImageLevel.F1Max([0.1f, 0.4f, 0.35f, 0.8f], L(0, 0, 1, 1));
        Assert.Equal(0.8, f1, 12);
        Assert.Equal(0.35f, (float)t);
        var at = ImageLevel.AtThreshold([0.1f, 0.4f, 0.35f, 0.8f], L(0, 0, 1, 1), t);
        Assert.Equal(0.8, at.F1, 12);
    }

    [Fact]
    public void Threshold_from_normal_percentile_and_its_test_rates()
    {
        float[] val = [5f, 1f, 4f, 2f, 3f];
        Assert.Equal(3.0, ImageLevel.ThresholdFromNormal(val, 50), 12);
        Assert.Equal(4.8, ImageLevel.ThresholdFromNormal(val, 95), 12); // numpy.percentile([1..5], 95)
        Assert.Equal(5.0, ImageLevel.ThresholdFromNormal(val, 100), 12);
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageLevel.ThresholdFromNormal(val, 101));
        Assert.Throws<ArgumentException>(() => ImageLevel.ThresholdFromNormal([], 95));

        double t = ImageLevel.ThresholdFromNormal(val, 95);
        // test: normals 1, 4.9, 6 (two flagged: 4.9 ≥ 4.8 and 6), anomalies 4.8 (flagged: ≥), 10, 2 (missed)
        var r = ImageLevel.AtThreshold([1f, 4.9f, 6f, 4.8f, 10f, 2f], L(0, 0, 0, 1, 1, 1), t);
        Assert.Equal((2L, 2L, 1L, 1L), (r.Tp, r.Fp, r.Tn, r.Fn));
        Assert.Equal(2 / 3.0, r.Tpr, 12);
        Assert.Equal(2 / 3.0, r.Fpr, 12);
        Assert.Equal(0.5, r.Precision, 12);
        Assert.Equal(4 / 7.0, r.F1, 12);
    }

    [Fact]
    public void Sort_keys_preserve_float_order()
    {
        var rng = new Random(3);
        var v = Enumerable.Range(0, 5000).Select(_ => (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-30, 30))))
            .Concat([0f, -0f, float.MaxValue, float.MinValue, float.Epsilon, -float.Epsilon, float.PositiveInfinity, float.NegativeInfinity]).ToArray();
        var keys = v.Select(NativeVq.Anomaly.Metrics.SortKeys.Key).ToArray();
        NativeVq.Anomaly.Metrics.SortKeys.Sort(keys, keys.Length);
        var back = keys.Select(NativeVq.Anomaly.Metrics.SortKeys.Value).ToArray();
        var expect = v.Select(x => x == 0 ? 0f : x).Order().ToArray();
        Assert.Equal(expect, back);
    }
}
