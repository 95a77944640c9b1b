namespace NativeVq.Anomaly.Metrics;

/// <summary>Scores (and optionally maps and masks) of a test set, one entry per image.</summary>
/// <param name="Defects">Defect type per image; <see cref="Evaluation.Good"/> ("good", any case) marks a normal image.</param>
/// <param name="Scores">Image anomaly score (higher = more anomalous).</param>
/// <param name="Maps">Optional per-image anomaly maps [Height·Width].</param>
/// <param name="Masks">Optional ground-truth masks [Height·Width] (nonzero = anomalous); null entries = all normal.</param>
/// <param name="NormalValidationScores">Scores of held-out NORMAL images, for the operating threshold.</param>
public sealed record EvaluationInput(
    IReadOnlyList<string> Defects,
    IReadOnlyList<float> Scores,
    IReadOnlyList<float[]>? Maps = null,
    IReadOnlyList<byte[]?>? Masks = null,
    int Height = 0,
    int Width = 0,
    IReadOnlyList<float>? NormalValidationScores = null);

public sealed record EvaluationOptions
{
    /// <summary>Threshold = this percentile (0..100) of the normal validation scores. 95 by default.</summary>
    public double ThresholdPercentile { get; init; } = 95;
    /// <summary>An absolute threshold; overrides the percentile rule when set.</summary>
    public double? Threshold { get; init; }
    /// <summary>AUPRO integration limit on the FPR axis (MVTec AD: 0.3).</summary>
    public double AuproFprLimit { get; init; } = PixelLevel.DefaultFprLimit;
    /// <summary>Points kept in the pixel ROC / PRO curves (for plotting only; metrics use every threshold).</summary>
    public int PixelCurvePoints { get; init; } = 500;
    /// <summary>Compute per-defect pixel metrics too (one more full pixel pass per defect type).</summary>
    public bool PerDefectPixelMetrics { get; init; } = true;
}

/// <summary>
/// Evaluates a test set overall and per defect type. Each defect subset is that defect's images against ALL good
/// images (the MVTec AD convention), so per-defect AUROC answers "how well is this defect told from normal".
/// Pixel metrics are computed when maps are given and every anomalous image has a mask with at least one anomalous
/// pixel overall; otherwise they are null (a dataset without masks has no pixel truth).
/// </summary>
public static class Evaluation
{
    public const string Good = "good";

    public static bool IsGood(string defect) => string.Equals(defect, Good, StringComparison.OrdinalIgnoreCase);

    public static EvaluationResult Evaluate(EvaluationInput input, EvaluationOptions? options = null)
    {
        options ??= new EvaluationOptions();
        int n = input.Scores.Count;
        if (input.Defects.Count != n) throw new ArgumentException($"{n} scores but {input.Defects.Count} defect names");
        var scores = input.Scores.ToArray();
        var labels = input.Defects.Select(d => !IsGood(d)).ToArray();

        ThresholdChoice? threshold = null;
        if (options.Threshold is { } t) threshold = new ThresholdChoice(t, "absolute", input.NormalValidationScores?.Count ?? 0);
        else if (input.NormalValidationScores is { Count: > 0 } val)
            threshold = new ThresholdChoice(ImageLevel.ThresholdFromNormal(val.ToArray(), options.ThresholdPercentile),
                $"p{options.ThresholdPercentile:0.##} of normal validation scores", val.Count);

        bool pixels = HasPixelTruth(input, labels);
        var overallImage = Image(scores, labels, threshold, out var roc);
        PixelMetrics? overallPixel = null;
        RocCurve? pixelRoc = null;
        ProCurve? pixelPro = null;
        if (pixels)
        {
            var (m, r, p) = PixelLevel.Evaluate(input.Maps!, input.Masks!, input.Height, input.Width, options.AuproFprLimit, options.PixelCurvePoints);
            overallPixel = m; pixelRoc = r; pixelPro = p;
        }

        var perDefect = new List<MetricSet>();
        foreach (var defect in input.Defects.Where(d => !IsGood(d)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            var idx = Enumerable.Range(0, n).Where(i => !labels[i] || input.Defects[i] == defect).ToArray();
            var im = Image(idx.Select(i => scores[i]).ToArray(), idx.Select(i => labels[i]).ToArray(), threshold, out _);
            PixelMetrics? pm = null;
            if (pixels && options.PerDefectPixelMetrics)
                pm = PixelLevel.Evaluate(idx.Select(i => input.Maps![i]).ToArray(), idx.Select(i => input.Masks![i]).ToArray(),
                    input.Height, input.Width, options.AuproFprLimit, 2).Metrics;
            perDefect.Add(new MetricSet(defect, im, pm));
        }
        return new EvaluationResult(new MetricSet("overall", overallImage, overallPixel), perDefect, threshold, roc, pixelRoc, pixelPro);
    }

    private static ImageMetrics Image(float[] scores, bool[] labels, ThresholdChoice? threshold, out RocCurve roc)
    {
        var s = BinaryCurve.Summarize(scores, labels, 0);
        roc = s.Roc!;
        var at = threshold is null ? null : BinaryCurve.At(scores, labels, threshold.Value);
        return new ImageMetrics(scores.Length, (int)s.Positives, s.Auroc, s.AveragePrecision, s.F1Max, s.F1Threshold, at);
    }

    private static bool HasPixelTruth(EvaluationInput input, bool[] labels)
    {
        if (input.Maps is null || input.Masks is null) return false;
        int n = labels.Length;
        if (input.Maps.Count != n || input.Masks.Count != n) throw new ArgumentException($"{n} images but {input.Maps.Count} maps and {input.Masks.Count} masks");
        if (input.Height <= 0 || input.Width <= 0) throw new ArgumentException("pixel metrics need the map height and width");
        bool any = false;
        for (int i = 0; i < n; i++)
        {
            var m = input.Masks[i];
            if (labels[i] && m is null) return false;
            if (m is not null && !any) foreach (var b in m) if (b != 0) { any = true; break; }
        }
        return any;
    }
}
