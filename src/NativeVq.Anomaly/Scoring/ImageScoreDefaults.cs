namespace NativeVq.Anomaly.Scoring;

/// <summary>The image score used unless `--image-score` says otherwise, and the seeds' own.</summary>
public static class ImageScoreDefaults
{
    /// <summary>The seeds' (MOOD) recipe: Σ NLL &gt; λ.</summary>
    public const string Seeds = "mood";
    /// <summary>The best measured setting with pixel maps (docs/results.md, issue 13 ablation).</summary>
    public const string Default = "complexity+map-topk";
    /// <summary>The best measured latent-only score, the default under --no-maps (no restorations to rank by).</summary>
    public const string WithoutMaps = "complexity";
}
