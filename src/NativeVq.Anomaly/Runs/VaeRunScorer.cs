using NativeVq.Models;

namespace NativeVq.Anomaly.Runs;

/// <summary>A VAE run as an <see cref="IRunScorer"/>: scores "recon" (default) and "neg-elbo", map |x − x̂|.</summary>
public sealed class VaeRunScorer(VaeRun run) : IRunScorer
{
    public const string Recon = "recon", NegativeElbo = "neg-elbo";

    public string Kind => "vae";
    public string Method => "VAE";
    public Backend Backend => run.Model.Backend;
    public int ImageSize => run.Config.ImageSize;
    public int Channels => run.Config.ImageChannels;
    public IReadOnlyList<string> ScoreNames { get; } = [Recon, NegativeElbo];
    public string DefaultScore => Recon;
    public string ReconstructionScore => Recon;

    public RunBatchScores ScoreBatch(Tensor images)
    {
        var s = run.ScoreBatch(images);
        return new RunBatchScores(new Dictionary<string, float[]> { [Recon] = s.Reconstruction, [NegativeElbo] = s.NegativeElbo },
            RunScorers.PerImage(s.Map), RunScorers.PerImage(s.Decoded));
    }
}
