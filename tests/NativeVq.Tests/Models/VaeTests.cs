using NativeVq.Anomaly.Evaluation;
using NativeVq.Anomaly.Runs;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Models;

public sealed class VaeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-vae-" + Guid.NewGuid().ToString("N"));
    private static readonly VaeConfig Small = new() { ImageSize = 16, Channels = 8, Latent = 4 };
    private static readonly Backend Cpu = CpuBackend.Instance;

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private static float[] Params(Vae m) => m.Parameters().SelectMany(p => p.ToArray()).ToArray();

    private Vae Train(string name, int epochs, int maxSteps = 0, bool resume = false, IImageDataset? data = null)
        => new VaeTrainer(Cpu, data ?? new SyntheticTextures(40, 16, 3), Small,
            new VaeTrainOptions { Out = Path.Combine(_dir, name), Epochs = epochs, Batch = 8, Lr = 1e-3f, Seed = 5, MaxSteps = maxSteps, Resume = resume }).Run();

    [Fact]
    public void SameSeedGivesBitIdenticalParametersAndTrainingLowersTheLoss()
    {
        Assert.Equal(Params(Train("a", 2)), Params(Train("b", 2)));
        var lines = File.ReadAllLines(Path.Combine(_dir, "a", VaeTrainer.MetricsName));
        double Loss(string l) => System.Text.Json.Nodes.JsonNode.Parse(l)!["loss"]!.GetValue<double>();
        Assert.True(Loss(lines[1]) < Loss(lines[0]), $"loss did not fall: {lines[0]} then {lines[1]}");
    }

    [Fact]
    public void InterruptedAndResumedRunEqualsAnUninterruptedOne()
    {
        // 40 images / batch 8 = 5 steps an epoch; stop mid-epoch at step 7 (the ε stream and epoch sums are in the checkpoint).
        var full = Params(Train("full", 3));
        Train("split", 3, maxSteps: 7);
        var resumed = Params(Train("split", 3, resume: true));
        Assert.Equal(full, resumed);
        Assert.Equal(File.ReadAllText(Path.Combine(_dir, "full", VaeTrainer.MetricsName)).Split('\n').Select(StripTiming),
            File.ReadAllText(Path.Combine(_dir, "split", VaeTrainer.MetricsName)).Split('\n').Select(StripTiming));
        Assert.True(File.Exists(Path.Combine(_dir, "split", "recon_epoch003.png")));
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "split", "config.json")))!;
        Assert.Equal("vae", config["model"]!.GetValue<string>());
    }

    /// <summary>A metrics line without its wall-clock fields (the only thing a resumed run may change).</summary>
    private static string StripTiming(string line) => line.Length == 0 ? line
        : System.Text.RegularExpressions.Regex.Replace(line, "\"(images_per_second|seconds)\":[^,}]*", "");

    [Fact]
    public void ReparameterisationIsSeededAndUsesSigmaFromLogVar()
    {
        using var scope = new TensorScope();
        var mu = Tensor.FromArray(Cpu, new[] { 1f, -2f, 0.5f }, 1, 3);
        var lv = Tensor.FromArray(Cpu, new[] { 0f, 2f, -4f }, 1, 3);
        var z1 = Vae.Reparameterise(mu, lv, new Rng(9)).ToArray();
        var z2 = Vae.Reparameterise(mu, lv, new Rng(9)).ToArray();
        Assert.Equal(z1, z2);
        var rng = new Rng(9);
        float[] m = [1f, -2f, 0.5f], l = [0f, 2f, -4f];
        for (int i = 0; i < 3; i++) Assert.Equal(m[i] + Math.Exp(0.5 * l[i]) * rng.Normal(), z1[i], 5);
    }

    [Fact]
    public void ScoresAreTheReconstructionErrorAndTheNegativeElboOfTheReloadedModel()
    {
        var trained = Train("score", 1);
        var run = VaeRun.Load(Path.Combine(_dir, "score"), Cpu);
        Assert.Equal(Params(trained), Params(run.Model));
        using var scope = new TensorScope();
        var data = new SyntheticTextures(3, 16, 8);
        var x = Tensor.FromArray(Cpu, Enumerable.Range(0, 3).SelectMany(i => data.Load(i)).ToArray(), 3, 1, 16, 16);
        var s = run.ScoreBatch(x);
        Assert.Equal(new[] { 3, 1, 16, 16 }, s.Map.Shape);
        float[] xs = x.ToArray(), rs = s.Decoded.ToArray(), map = s.Map.ToArray();
        using var _ = Autograd.NoGrad();
        var (mu, lv) = run.Model.Encode(x);
        float[] m = mu.ToArray(), l = lv.ToArray();
        for (int i = 0; i < 3; i++)
        {
            double se = 0, kl = 0;
            for (int p = 0; p < 256; p++)
            {
                double d = xs[i * 256 + p] - rs[i * 256 + p];
                se += d * d;
                Assert.Equal(Math.Abs(d), map[i * 256 + p], 5);
            }
            for (int j = 0; j < 4; j++) kl += 0.5 * (m[i * 4 + j] * (double)m[i * 4 + j] + Math.Exp(l[i * 4 + j]) - l[i * 4 + j] - 1);
            Assert.Equal(se / 256, s.Reconstruction[i], 4);
            Assert.Equal(se + kl, s.NegativeElbo[i], 2);
        }
    }

    /// <summary>eval's path for a VAE run: image and pixel metrics (the textures have masks), the calibrated threshold, the baselines.</summary>
    [Fact]
    public void EvaluationOfAVaeRunReportsImageAndPixelMetrics()
    {
        var train = new SyntheticTextures(40, 16, 3);
        Train("eval", 2, data: train);
        var scorer = RunScorers.Open(Path.Combine(_dir, "eval"), Cpu);
        Assert.IsType<VaeRunScorer>(scorer);
        var set = EvalSet.Synthetic(new SyntheticTextures(24, 16, 11, anomalyFraction: 0.5f));
        var reference = new EvaluationReference(train, Enumerable.Range(0, 10).ToArray(), Enumerable.Range(10, 30).ToArray());
        var run = RunEvaluation.Run(scorer!, set, reference, null, new EvaluationSettings { ThresholdPercentile = 90 });
        Assert.Equal("recon", run.ImageScoreName);
        Assert.InRange(run.Sample.Overall.Image.Auroc, 0, 1);
        Assert.NotNull(run.Sample.Overall.Pixel);
        Assert.InRange(run.Sample.Overall.Pixel!.Auroc, 0, 1);
        Assert.NotNull(run.Fpr);
        Assert.Equal(10, run.Fpr!.CalibrationImages);
        Assert.Equal(2, run.Baselines.Count);
        Assert.Equal(new[] { "recon", "neg-elbo" }, run.ImageScoreAurocs.Keys.ToArray());
        var elbo = RunEvaluation.Run(scorer!, set, reference, "neg-elbo", new EvaluationSettings { Baselines = false });
        Assert.Equal("neg-elbo", elbo.ImageScoreName);
        Assert.Equal(run.ImageScoreAurocs["neg-elbo"], elbo.Sample.Overall.Image.Auroc, 9);
        var e = Assert.Throws<UserError>(() => RunEvaluation.Run(scorer!, set, reference, "mood", new EvaluationSettings()));
        Assert.Contains("recon, neg-elbo", e.Message);
    }
}
