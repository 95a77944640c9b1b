namespace NativeVq.Anomaly.Metrics;

/// <summary>
/// Image-level metrics of anomaly scores (higher = more anomalous) against labels (true = anomalous).
/// Every metric visits the distinct thresholds of the merged scores once (O(n log n), see <see cref="BinaryCurve"/>).
/// A metric that needs both classes returns NaN when one is missing; NaN scores are refused.
/// </summary>
public static class ImageLevel
{
    /// <summary>Area under the ROC curve = P(score of a random anomaly &gt; score of a random normal) + ½ P(tie).</summary>
    public static double Auroc(ReadOnlySpan<float> scores, ReadOnlySpan<bool> labels)
        => BinaryCurve.Summarize(scores, labels, 1).Auroc;

    /// <summary>Average precision as scikit-learn defines it: Σ_n (R_n − R_{n−1}) P_n over distinct thresholds (no interpolation).</summary>
    public static double AveragePrecision(ReadOnlySpan<float> scores, ReadOnlySpan<bool> labels)
        => BinaryCurve.Summarize(scores, labels, 1).AveragePrecision;

    /// <summary>All ROC points, one per distinct threshold, starting at (0, 0) (threshold +∞).</summary>
    public static RocCurve Roc(ReadOnlySpan<float> scores, ReadOnlySpan<bool> labels)
        => BinaryCurve.Summarize(scores, labels, 0).Roc!;

    /// <summary>The best F1 over rules "score ≥ t" for t among the scores, and the highest t that reaches it.</summary>
    public static (double F1, double Threshold) F1Max(ReadOnlySpan<float> scores, ReadOnlySpan<bool> labels)
    {
        var s = BinaryCurve.Summarize(scores, labels, 1);
        return (s.F1Max, s.F1Threshold);
    }

    /// <summary>AUROC, AP, F1-max and the full ROC in one pass.</summary>
    public static CurveSummary Summarize(ReadOnlySpan<float> scores, ReadOnlySpan<bool> labels, int rocPoints = 0)
        => BinaryCurve.Summarize(scores, labels, rocPoints);

    /// <summary>TP/FP/TN/FN, TPR, FPR, precision and F1 of the rule "score ≥ threshold".</summary>
    public static ThresholdResult AtThreshold(ReadOnlySpan<float> scores, ReadOnlySpan<bool> labels, double threshold)
        => BinaryCurve.At(scores, labels, threshold);

    /// <summary>
    /// The operating threshold chosen on NORMAL validation scores only (no test labels involved): the
    /// <paramref name="percentile"/>-th percentile (0..100, linear interpolation between order statistics, as numpy's
    /// default), so that about (100 − p) % of normal images score at or above it.
    /// </summary>
    public static double ThresholdFromNormal(ReadOnlySpan<float> normalValidationScores, double percentile)
    {
        if (normalValidationScores.Length == 0) throw new ArgumentException("no normal validation scores to choose a threshold from");
        if (!(percentile >= 0 && percentile <= 100)) throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "percentile must be in [0, 100]");
        return Percentile(normalValidationScores, percentile);
    }

    /// <summary>numpy.percentile(x, p) with the default linear method.</summary>
    public static double Percentile(ReadOnlySpan<float> values, double percentile)
    {
        var v = values.ToArray();
        foreach (var x in v) if (float.IsNaN(x)) throw new ArgumentException("percentile of NaN values");
        Array.Sort(v);
        double pos = percentile / 100.0 * (v.Length - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, v.Length - 1);
        double f = pos - lo;
        return v[lo] + f * ((double)v[hi] - v[lo]);
    }
}
