namespace NativeVq.Anomaly.Runs;

/// <summary>
/// Image scores and a pixel map for a batch, from a model that scores images in one pass (the VAE, the GAN +
/// encoder): <see cref="Scores"/> maps each score name to one value per image (higher = more anomalous),
/// <see cref="Maps"/> holds one [H·W] anomaly map per image, <see cref="Reconstructions"/> the model's [C·H·W]
/// reconstruction per image (shown in the report) or null.
/// </summary>
public sealed record RunBatchScores(IReadOnlyDictionary<string, float[]> Scores, float[][] Maps, float[][]? Reconstructions);

/// <summary>
/// The seam between `eval` / `score` and the models other than VQ-VAE + PixelSNAIL: what a run folder needs to be
/// evaluated is "score a batch → named image scores + pixel map". One small adapter per model kind implements it
/// (<see cref="VaeRunScorer"/>; <see cref="RunScorers.Open"/> picks it from the run's config.json).
/// </summary>
public interface IRunScorer
{
    /// <summary>The run's model kind as config.json names it ("vae", "gan").</summary>
    string Kind { get; }
    /// <summary>How reports name the method.</summary>
    string Method { get; }
    Backend Backend { get; }
    int ImageSize { get; }
    int Channels { get; }
    /// <summary>The names <see cref="ScoreBatch"/> returns, in a fixed order; `--image-score` chooses among them.</summary>
    IReadOnlyList<string> ScoreNames { get; }
    /// <summary>The score used when `--image-score` is not given.</summary>
    string DefaultScore { get; }
    /// <summary>The reconstruction-error score (the report's reconstruction baseline row).</summary>
    string ReconstructionScore { get; }
    /// <summary>Scores images [N, C, S, S] in [-1, 1].</summary>
    RunBatchScores ScoreBatch(Tensor images);
}
