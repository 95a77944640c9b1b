namespace NativeVq.Anomaly.Scoring;

/// <summary>The image score used unless `--image-score` says otherwise, and the seeds' own.</summary>
public static class ImageScoreDefaults
{
    /// <summary>The seeds' (MOOD) recipe: Σ NLL &gt; λ.</summary>
    public const string Seeds = "mood";
    /// <summary>
    /// The best measured setting with pixel maps (docs/results.md, issue 13 ablation). No knn part: on the demo's
    /// textures the whole-image encoder distance is weak (knn 0.763 image AUROC) and adding it costs 0.001 (round 4).
    /// </summary>
    public const string Default = "complexity+map-topk";
    /// <summary>The best measured latent-only score, the default under --no-maps (no restorations to rank by; docs/results.md, issue 13 round 4).</summary>
    public const string WithoutMaps = "complexity+knn";

    /// <summary>A score without its knn part: what a run made before feature_bank.bin existed can still be calibrated for.</summary>
    public static string WithoutBank(string spec) => string.Join("+", spec.Split('+').Where(p => p.Trim() != "knn"));
}
