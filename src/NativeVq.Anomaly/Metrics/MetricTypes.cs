namespace NativeVq.Anomaly.Metrics;

/// <summary>Points of a ROC curve (FPR, TPR), from (0, 0) to (1, 1), thresholds descending.</summary>
public sealed record RocCurve(double[] Fpr, double[] Tpr, float[] Thresholds)
{
    public int Count => Fpr.Length;
}

/// <summary>A PRO-vs-FPR curve (FPR ascending), possibly decimated for plotting.</summary>
public sealed record ProCurve(double[] Fpr, double[] Pro);

/// <summary>
/// Classification at one fixed threshold: an image (pixel) is predicted anomalous when score ≥ threshold.
/// Rates are NaN where their denominator is 0.
/// </summary>
public sealed record ThresholdResult(double Threshold, long Tp, long Fp, long Tn, long Fn)
{
    public double Tpr => Tp + Fn == 0 ? double.NaN : (double)Tp / (Tp + Fn);
    public double Fpr => Fp + Tn == 0 ? double.NaN : (double)Fp / (Fp + Tn);
    public double Precision => Tp + Fp == 0 ? double.NaN : (double)Tp / (Tp + Fp);
    public double F1 => 2 * Tp + Fp + Fn == 0 ? double.NaN : 2.0 * Tp / (2 * Tp + Fp + Fn);
}

/// <summary>
/// Everything one sweep over the distinct thresholds gives. <see cref="Auroc"/> and <see cref="AveragePrecision"/>
/// are NaN when one class is empty; <see cref="F1Threshold"/> is the score t of the best rule "score ≥ t".
/// </summary>
public sealed record CurveSummary(long Count, long Positives, double Auroc, double AveragePrecision, double F1Max, double F1Threshold, RocCurve? Roc)
{
    public long Negatives => Count - Positives;
}

/// <summary>Image-level results: ranking metrics and, when a threshold was chosen, the classification it gives.</summary>
public sealed record ImageMetrics(int Images, int Anomalous, double Auroc, double AveragePrecision, double F1Max, double F1Threshold, ThresholdResult? AtThreshold);

/// <summary>Pixel-level results over all pixels of the evaluated images.</summary>
public sealed record PixelMetrics(long Pixels, long AnomalousPixels, int Regions, double Auroc, double F1Max, double F1Threshold, double Aupro, double AuproFprLimit);

/// <summary>Metrics of one subset: "overall", or one defect type against all good images.</summary>
public sealed record MetricSet(string Name, ImageMetrics Image, PixelMetrics? Pixel);

/// <summary>How the operating threshold was chosen.</summary>
public sealed record ThresholdChoice(double Value, string Rule, int NormalValidationImages);

/// <summary>The full evaluation of a test set.</summary>
public sealed record EvaluationResult(
    MetricSet Overall,
    IReadOnlyList<MetricSet> PerDefect,
    ThresholdChoice? Threshold,
    RocCurve ImageRoc,
    RocCurve? PixelRoc,
    ProCurve? PixelPro);
