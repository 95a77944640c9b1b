using NativeVq.Models;

namespace NativeVq.Anomaly.Runs;

/// <summary>
/// A GAN + encoder run as an <see cref="IRunScorer"/>: "encoder-norm" ‖E(x)‖₂ (the contaminated-data paper's score,
/// default), "recon" |x − G(E(x))|, "feature-distance" on D's features, "combined"; map |x − G(E(x))|.
/// </summary>
public sealed class GanRunScorer(GanRun run) : IRunScorer
{
    public const string EncoderNorm = "encoder-norm", Recon = "recon", FeatureDistance = "feature-distance", Combined = "combined";

    public string Kind => "gan";
    public string Method => "GAN + encoder";
    public Backend Backend => run.Backend;
    public int ImageSize => run.Config.ImageSize;
    public int Channels => run.Config.ImageChannels;
    public IReadOnlyList<string> ScoreNames { get; } = [EncoderNorm, Recon, FeatureDistance, Combined];
    public string DefaultScore => EncoderNorm;
    public string ReconstructionScore => Recon;

    public RunBatchScores ScoreBatch(Tensor images)
    {
        var s = run.ScoreBatch(images);
        return new RunBatchScores(new Dictionary<string, float[]>
        {
            [EncoderNorm] = s.EncoderNorm, [Recon] = s.Reconstruction, [FeatureDistance] = s.FeatureDistance, [Combined] = s.Combined,
        }, RunScorers.PerImage(s.Map), RunScorers.PerImage(s.Decoded));
    }
}
