namespace NativeVq.Anomaly.Scoring;

/// <summary>The image score used unless `--image-score` says otherwise, and the seeds' own.</summary>
public static class ImageScoreDefaults
{
    /// <summary>The seeds' (MOOD) recipe: Σ NLL &gt; λ.</summary>
    public const string Seeds = "mood";
    /// <summary>
    /// The best measured setting with pixel maps (docs/results.md, issue 13 round 4): the knn part lifts MNIST
    /// one-vs-rest with maps from 0.929 to 0.958 and the small gravel set from 0.811 to 0.924, and costs the demo's
    /// stripes 0.0008 (1.0000 → 0.9992).
    /// </summary>
    public const string Default = "complexity+knn+map-topk";
    /// <summary>The best measured latent-only score, the default under --no-maps (no restorations to rank by; docs/results.md, issue 13 round 4).</summary>
    public const string WithoutMaps = "complexity+knn";

    /// <summary>A score without its knn part: what a run made before feature_bank.bin existed can still be calibrated for.</summary>
    public static string WithoutBank(string spec) => string.Join("+", spec.Split('+').Where(p => p.Trim() != "knn"));
}
