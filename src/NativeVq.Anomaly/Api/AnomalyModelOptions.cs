using NativeVq.Anomaly.Scoring;

namespace NativeVq.Anomaly;

/// <summary>How <see cref="AnomalyModel"/> scores; the defaults are what `nativevq score` does without options.</summary>
public sealed record AnomalyModelOptions
{
    /// <summary>The scoring constants (λ, τ, restorations, map smoothing, seed); λ and τ default to the run's calibration.</summary>
    public ScoringOptions Scoring { get; init; } = new();

    /// <summary>Compute pixel maps (restorations of the unlikely codes). Off: scores only, much faster.</summary>
    public bool Maps { get; init; } = true;

    /// <summary>The restoration sampler; null = <see cref="RestorerFactory.Fast"/>.</summary>
    public IRestorer? Restorer { get; init; }

    /// <summary>
    /// The image score (an `--image-score` spec such as mood or complexity+knn+map-topk); null = the default,
    /// <see cref="ImageScoreDefaults.Default"/> with maps and <see cref="ImageScoreDefaults.WithoutMaps"/> without.
    /// </summary>
    public string? ImageScore { get; init; }

    /// <summary>Threshold = this percentile of the calibration images' image scores (expected false-positive rate 1 − p/100).</summary>
    public double ThresholdPercentile { get; init; } = 95;

    /// <summary>Images encoded and scored per pass of the models.</summary>
    public int BatchSize { get; init; } = 64;
}
