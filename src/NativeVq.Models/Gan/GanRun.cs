using NativeVq.Data;
using NativeVq.Models.Training;

namespace NativeVq.Models;

/// <summary>
/// Scores of a batch of images [N, C, H, W] (values in [-1, 1], the data loader's range, which is also G's tanh range),
/// one value per image, higher = more anomalous:
/// <see cref="EncoderNorm"/> ‖E(x)‖₂ (the contaminated-data paper's score, the default);
/// <see cref="Reconstruction"/> mean over pixels and channels of |x − G(E(x))|;
/// <see cref="FeatureDistance"/> ‖f_D(x) − f_D(G(E(x)))‖² on the discriminator's 4x4 features before its head;
/// (the Anomaly layer's combined score weighs the last two with their spreads on the run's calibration images).
/// <see cref="Map"/>: [N, 1, H, W] |x − G(E(x))| averaged over channels, in the input's pixel scale;
/// <see cref="Decoded"/>: G(E(x)) [N, C, H, W].
/// </summary>
public sealed record GanBatchScores(float[] EncoderNorm, float[] Reconstruction, float[] FeatureDistance, Tensor Map, Tensor Decoded);

/// <summary>A trained GAN + encoder run folder, loaded once (eval mode: BatchNorm uses the running statistics).</summary>
public sealed class GanRun : IDisposable
{
    private GanRun(Gan model) => Model = model;

    public Gan Model { get; }
    public GanConfig Config => Model.Config;
    public Backend Backend { get; private init; } = null!;

    public static GanRun Load(string runDir, Backend backend)
    {
        var run = new RunDirectory(runDir, create: false);
        var path = run.File(GanTrainer.CheckpointName);
        if (Directory.Exists(path)) throw new UserError($"{path} is a folder, expected the checkpoint file {GanTrainer.CheckpointName}");
        if (!File.Exists(path)) throw new UserError($"{runDir} holds no {GanTrainer.CheckpointName}: make one with `nativevq train gan --out {runDir}`");
        var ckpt = NvqFile.Read(path);
        ckpt.RequireKind(GanTrainer.Kind);
        var model = new Gan(backend, ModelStore.ReadConfig<GanConfig>(ckpt), seed: 0);
        LoadWeights(ckpt, model);
        model.Eval();
        return new GanRun(model) { Backend = backend };
    }

    /// <summary>Loads every parameter and BatchNorm buffer; one the file lacks is an error (running statistics included).</summary>
    internal static void LoadWeights(NvqCheckpoint ckpt, Gan model)
    {
        var missing = model.StateDict().Select(p => p.Name).Where(n => !ckpt.ByName.ContainsKey(n)).ToList();
        if (missing.Count > 0) throw new UserError($"{ckpt.Path}: does not fit the model: missing tensors {string.Join(", ", missing.Take(5))}");
        ckpt.LoadInto(model.StateDict(), strict: false);
    }

    public GanBatchScores ScoreBatch(Tensor images)
    {
        var c = Config;
        if (images.Rank != 4 || images.Dim(1) != c.ImageChannels || images.Dim(2) != c.ImageSize || images.Dim(3) != c.ImageSize)
            throw new UserError($"images are {ShapeUtil.Format(images.Shape)} but the model expects [N, {c.ImageChannels}, {c.ImageSize}, {c.ImageSize}]");
        var x = images.Backend == Backend ? images : images.To(Backend);
        int n = x.Dim(0), ch = c.ImageChannels, hw = c.ImageSize * c.ImageSize;
        using var _ = Autograd.NoGrad();
        var z = Model.E.Forward(x);
        var decoded = Model.G.Forward(z);
        var fx = Model.D.Features(x).ToArray();
        var fr = Model.D.Features(decoded).ToArray();
        var zv = z.ToArray();
        var xv = x.ToArray();
        var rv = decoded.ToArray();
        var norm = new float[n];
        var recon = new float[n];
        var feat = new float[n];
        var map = new float[n * hw];
        int zd = c.LatentDim, fd = fx.Length / n;
        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int k = 0; k < zd; k++) s += (double)zv[i * zd + k] * zv[i * zd + k];
            norm[i] = (float)Math.Sqrt(s);
            double f = 0;
            for (int k = 0; k < fd; k++) { double d = fx[i * fd + k] - fr[i * fd + k]; f += d * d; }
            feat[i] = (float)f;
            double r = 0;
            for (int k = 0; k < ch; k++)
                for (int p = 0; p < hw; p++)
                {
                    int o = (i * ch + k) * hw + p;
                    float d = Math.Abs(xv[o] - rv[o]);
                    r += d;
                    map[i * hw + p] += d / ch;
                }
            recon[i] = (float)(r / (ch * hw));
        }
        return new GanBatchScores(norm, recon, feat, Tensor.FromArray(Backend, map, n, 1, c.ImageSize, c.ImageSize), decoded);
    }

    /// <summary>The model's tensors are owned by their modules and released with the backend's pool; nothing else is held.</summary>
    public void Dispose() { }
}
