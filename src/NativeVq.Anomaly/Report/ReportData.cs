using NativeVq.Anomaly.Metrics;
using Evaluation = NativeVq.Anomaly.Evaluation;

namespace NativeVq.Anomaly.Report;

/// <summary>
/// One test image of the report. Images are float CHW in [-1, 1] of [Channels, Size, Size]; <see cref="Map"/> is a
/// square [side·side] anomaly map (any side: it is resampled onto the input for the overlay); <see cref="Mask"/> is the
/// ground truth [Size·Size] (nonzero = anomalous) or null.
/// </summary>
public sealed record ReportImage(
    string Name,
    bool Anomalous,
    string Defect,
    float Score,
    float[] Input,
    float[]? Reconstruction,
    float[]? Restoration,
    float[]? Map,
    byte[]? Mask,
    int Channels,
    int Size);

/// <summary>Everything <see cref="HtmlReport.Write"/> shows.</summary>
public sealed record ReportData(
    string Method,
    EvaluationResult Metrics,
    IReadOnlyList<ReportImage> Images)
{
    /// <summary>Page title; defaults to "NativeVq report: {Method}".</summary>
    public string? Title { get; init; }
    /// <summary>Run information shown as a key/value table (dataset, checkpoint, date, device, ...).</summary>
    public IReadOnlyDictionary<string, string> RunInfo { get; init; } = new Dictionary<string, string>();
    /// <summary>At most this many image rows (the page embeds every image).</summary>
    public int MaxRows { get; init; } = 200;
    /// <summary>Images larger than this side are downsampled for the page (the metrics are unaffected).</summary>
    public int ThumbnailSize { get; init; } = 128;
    /// <summary>Other methods evaluated on the same images (the reconstruction error, the no-network baselines).</summary>
    public IReadOnlyList<ComparisonRow> Baselines { get; init; } = [];
    /// <summary>Expected against measured false-positive rate at the threshold, when one was calibrated.</summary>
    public Evaluation.FprCheck? Fpr { get; init; }
    /// <summary>Image AUROC of each image score on the same scored images (name → AUROC).</summary>
    public IReadOnlyDictionary<string, double> ImageScoreAurocs { get; init; } = new Dictionary<string, double>();
}

/// <summary>A method shown beside the main one: its overall and per-defect metrics and its time.</summary>
public sealed record ComparisonRow(string Name, EvaluationResult Result, double Seconds);
