using NativeVq.Anomaly.Metrics;

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
}
