using NativeVq.Models;

namespace NativeVq.Anomaly.Runs;

/// <summary>
/// A GAN + encoder run as an <see cref="IRunScorer"/>: "encoder-norm" ‖E(x)‖₂ (the contaminated-data paper's score,
/// default), "recon" |x − G(E(x))|, "feature-distance" on D's features, and "combined" (<see cref="GanCombinedScore"/>)
/// when <paramref name="combined"/> — the spreads measured on the run's calibration images — is given; map |x − G(E(x))|.
/// </summary>
public sealed class GanRunScorer(GanRun run, GanCombinedScore? combined = null) : IRunScorer
{
    public const string EncoderNorm = "encoder-norm", Recon = "recon", FeatureDistance = "feature-distance", Combined = "combined";

    public string Kind => "gan";
    public string Method => "GAN + encoder";
    public Backend Backend => run.Backend;
    public int ImageSize => run.Config.ImageSize;
    public int Channels => run.Config.ImageChannels;
    public IReadOnlyList<string> ScoreNames { get; } = combined is null ? [EncoderNorm, Recon, FeatureDistance] : [EncoderNorm, Recon, FeatureDistance, Combined];
    public string DefaultScore => EncoderNorm;
    public string ReconstructionScore => Recon;

    public RunBatchScores ScoreBatch(Tensor images)
    {
        var s = run.ScoreBatch(images);
        var scores = new Dictionary<string, float[]> { [EncoderNorm] = s.EncoderNorm, [Recon] = s.Reconstruction, [FeatureDistance] = s.FeatureDistance };
        if (combined is not null) scores[Combined] = combined.Apply(s.Reconstruction, s.FeatureDistance);
        return new RunBatchScores(scores, RunScorers.PerImage(s.Map), RunScorers.PerImage(s.Decoded));
    }
}
