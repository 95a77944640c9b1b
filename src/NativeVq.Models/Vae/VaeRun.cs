using NativeVq.Data;
using NativeVq.Models.Training;

namespace NativeVq.Models;

/// <summary>
/// Scores of a batch from a trained VAE: <see cref="Reconstruction"/> = mean squared error of x against the decoded
/// posterior mean (the default anomaly score), <see cref="NegativeElbo"/> = Σ squared error + KL(q(z|x) ‖ N(0, I))
/// per image (the training loss at β = 1 with z = μ), <see cref="Map"/> = |x − x̂| averaged over channels [N, 1, H, W],
/// <see cref="Decoded"/> = x̂ [N, C, H, W].
/// </summary>
public sealed record VaeBatchScores(float[] Reconstruction, float[] NegativeElbo, Tensor Map, Tensor Decoded);

/// <summary>A trained VAE run folder opened for scoring (inference mode; no sampling: z = μ, so scores are deterministic).</summary>
public sealed class VaeRun
{
    private VaeRun(Vae model) => Model = model;

    public Vae Model { get; }
    public VaeConfig Config => Model.Config;

    public static VaeRun Load(string runDir, Backend backend)
    {
        var run = new RunDirectory(runDir, create: false);
        var path = run.File(VaeTrainer.CheckpointName);
        if (!File.Exists(path)) throw new UserError($"{runDir} holds no {VaeTrainer.CheckpointName}: make one with `nativevq train vae --out {runDir}`");
        var ckpt = NvqFile.Read(path);
        ckpt.RequireKind(VaeTrainer.Kind);
        var model = new Vae(backend, ModelStore.ReadConfig<VaeConfig>(ckpt), seed: 0);
        ckpt.LoadInto(model.StateDict(), strict: false);
        model.Eval();
        return new VaeRun(model);
    }

    /// <summary>Scores images [N, C, S, S] in [-1, 1] (the tensors live in the caller's scope).</summary>
    public VaeBatchScores ScoreBatch(Tensor images)
    {
        var cfg = Config;
        if (images.Rank != 4 || images.Dim(1) != cfg.ImageChannels || images.Dim(2) != cfg.ImageSize || images.Dim(3) != cfg.ImageSize)
            throw new UserError($"images are {ShapeUtil.Format(images.Shape)} but the VAE expects [N, {cfg.ImageChannels}, {cfg.ImageSize}, {cfg.ImageSize}]");
        using var _ = Autograd.NoGrad();
        var (mu, logVar) = Model.Encode(images);
        var decoded = Model.Decode(mu);
        int n = images.Dim(0), c = cfg.ImageChannels, hw = cfg.ImageSize * cfg.ImageSize, latent = cfg.Latent;
        float[] x = images.ToArray(), r = decoded.ToArray(), m = mu.ToArray(), lv = logVar.ToArray();
        var recon = new float[n];
        var elbo = new float[n];
        var map = new float[n * hw];
        for (int i = 0; i < n; i++)
        {
            double se = 0;
            for (int ch = 0; ch < c; ch++)
                for (int p = 0; p < hw; p++)
                {
                    int k = (i * c + ch) * hw + p;
                    double d = x[k] - r[k];
                    se += d * d;
                    map[i * hw + p] += (float)(Math.Abs(d) / c);
                }
            double kl = 0;
            for (int j = i * latent; j < (i + 1) * latent; j++) kl += 0.5 * ((double)m[j] * m[j] + Math.Exp(lv[j]) - lv[j] - 1);
            recon[i] = (float)(se / (c * hw));
            elbo[i] = (float)(se + kl);
        }
        return new VaeBatchScores(recon, elbo, Tensor.FromArray(images.Backend, map, n, 1, cfg.ImageSize, cfg.ImageSize), decoded);
    }
}
