using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Models;

/// <summary>The DCGAN generator / discriminator / encoder, their trainer (exact resume, BatchNorm state in checkpoints) and GanRun scoring.</summary>
public sealed class GanTests : IDisposable
{
    private static readonly Backend Cpu = CpuBackend.Instance;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-gan-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private static GanConfig Tiny(int size = 32, int channels = 1) => new() { ImageSize = size, ImageChannels = channels, LatentDim = 6, Width = 4 };

    [Theory]
    [InlineData(32, 1)]
    [InlineData(32, 3)]
    [InlineData(64, 1)]
    public void NetworksHaveTheDcganShapes(int size, int channels)
    {
        var cfg = Tiny(size, channels);
        var gan = new Gan(Cpu, cfg, seed: 3);
        using var scope = new TensorScope();
        var z = GradCheck.Random(Cpu, 5, 3, cfg.LatentDim);
        var x = gan.G.Forward(z);
        Assert.Equal(new[] { 3, channels, size, size }, x.Shape);
        Assert.All(x.ToArray(), v => Assert.InRange(v, -1f, 1f));   // tanh out
        Assert.Equal(new[] { 3, 1 }, gan.D.Forward(x).Shape);
        Assert.Equal(new[] { 3, cfg.LatentDim }, gan.E.Forward(x).Shape);
        Assert.Equal(new[] { 3, cfg.TopChannels, 4, 4 }, gan.D.Features(x).Shape);
        Assert.Equal(size == 32 ? 16 : 32, cfg.TopChannels);
        // BatchNorm everywhere but D's and E's first layer and G's output layer.
        var bns = gan.NamedBuffers().Select(b => b.Name).Where(n => n.EndsWith("running_mean")).ToList();
        Assert.Equal(3 * (cfg.Stages - 1) + 1, bns.Count);
        Assert.DoesNotContain("d.bn0.running_mean", bns);
    }

    [Fact]
    public void OtherSizesAreAUserError()
    {
        var ex = Assert.Throws<UserError>(() => new Gan(Cpu, Tiny() with { ImageSize = 48 }, 1));
        Assert.Contains("--size must be 32 or 64", ex.Message);
    }

    [Fact]
    public void SameSeedSameModel()
    {
        var a = new Gan(Cpu, Tiny(), 7).StateDict().SelectMany(p => p.Tensor.ToArray()).ToArray();
        var b = new Gan(Cpu, Tiny(), 7).StateDict().SelectMany(p => p.Tensor.ToArray()).ToArray();
        var c = new Gan(Cpu, Tiny(), 8).StateDict().SelectMany(p => p.Tensor.ToArray()).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    private GanTrainer Trainer(string outDir, int maxSteps, bool resume, float reconWeight = 0.5f)
        => new(Cpu, new SyntheticTextures(40, 32, 11), Tiny(), new GanTrainOptions
        {
            Out = outDir, Epochs = 2, Batch = 8, MaxSteps = maxSteps, Resume = resume, Seed = 5, ReconWeight = reconWeight, GridImages = 6,
        });

    private static Dictionary<string, float[]> Tensors(string run)
    {
        var ckpt = NvqFile.Read(Path.Combine(run, GanTrainer.CheckpointName));
        return ckpt.Tensors.ToDictionary(t => t.Name, t => t.F32!);
    }

    [Fact]
    public void ResumeIsBitIdenticalToAnUninterruptedRun()
    {
        string whole = Path.Combine(_dir, "whole"), split = Path.Combine(_dir, "split");
        var t = Trainer(whole, 0, false);
        t.Run();
        Assert.Equal(2, t.History.Count);
        Trainer(split, 3, false).Run();   // stops mid-epoch 1 (5 batches per epoch)
        var resumed = Trainer(split, 0, true);
        resumed.Run();
        var a = Tensors(whole);
        var b = Tensors(split);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var k in a.Keys) Assert.True(a[k].AsSpan().SequenceEqual(b[k]), $"{k} differs after resume");
        Assert.Equal(t.History[^1].DLoss, resumed.History[^1].DLoss);
        Assert.Equal(t.History[^1].ELoss, resumed.History[^1].ELoss);
        // The checkpoint holds the BatchNorm running statistics (trained away from their initial 0 / 1) and all three optimizers.
        Assert.Contains(a["g.bn0.running_mean"], v => v != 0f);
        Assert.Contains(a["d.bn1.running_var"], v => v != 1f);
        Assert.Contains("adam.m.e.head.weight", a.Keys);
        Assert.Contains("adam.v.d.down0.weight", a.Keys);
        Assert.True(File.Exists(Path.Combine(whole, "samples_epoch002.png")));
        var png = ImageIO.LoadNative(Path.Combine(whole, "samples.png"), 1);
        Assert.True(png.Width > 3 * 32 && png.Height > 32, $"grid {png.Width}x{png.Height}");
        Assert.Contains("\"model\": \"gan\"", File.ReadAllText(Path.Combine(whole, "config.json")));
    }

    [Fact]
    public void TrainingMovesTheLossesAndIsDeterministic()
    {
        var t1 = Trainer(Path.Combine(_dir, "a"), 0, false, reconWeight: 0f);
        var t2 = Trainer(Path.Combine(_dir, "b"), 0, false, reconWeight: 0f);
        t1.Run();
        t2.Run();
        Assert.Equal(t1.History.Select(m => (m.DLoss, m.GLoss, m.ELoss)), t2.History.Select(m => (m.DLoss, m.GLoss, m.ELoss)));
        Assert.Equal(0, t1.History[^1].ReconLoss);
        // The encoder learns to invert G: its latent error falls from the first epoch to the second.
        Assert.True(t1.History[1].ELoss < t1.History[0].ELoss, $"E loss {t1.History[0].ELoss} -> {t1.History[1].ELoss}");
    }

    [Fact]
    public void ScoresFollowTheirDefinitions()
    {
        string run = Path.Combine(_dir, "score");
        Trainer(run, 0, false).Run();
        var g = GanRun.Load(run, Cpu);
        var data = new SyntheticTextures(5, 32, 21, anomalyFraction: 0.4f);
        var buf = new float[5 * 32 * 32];
        for (int i = 0; i < 5; i++) data.Load(i, buf.AsSpan(i * 1024, 1024));
        using var scope = new TensorScope();
        var x = Tensor.FromArray(Cpu, buf, 5, 1, 32, 32);
        var s = g.ScoreBatch(x);
        Assert.Equal(new[] { 5, 1, 32, 32 }, s.Map.Shape);
        Assert.Equal(new[] { 5, 1, 32, 32 }, s.Decoded.Shape);
        var map = s.Map.ToArray();
        var dec = s.Decoded.ToArray();
        using (Autograd.NoGrad())
        {
            var z = g.Model.E.Forward(x).ToArray();
            for (int i = 0; i < 5; i++)
            {
                double norm = Math.Sqrt(z.Skip(i * 6).Take(6).Sum(v => (double)v * v));
                Assert.Equal(norm, s.EncoderNorm[i], 4);
                double recon = 0;
                for (int p = 0; p < 1024; p++)
                {
                    double d = Math.Abs(buf[i * 1024 + p] - dec[i * 1024 + p]);
                    Assert.Equal(d, map[i * 1024 + p], 5);
                    recon += d;
                }
                Assert.Equal(recon / 1024, s.Reconstruction[i], 5);
                Assert.True(s.FeatureDistance[i] > 0);
            }
        }
        // Eval mode: an image scores the same alone as in a batch (BatchNorm uses running statistics).
        var one = g.ScoreBatch(Tensor.FromArray(Cpu, buf.AsSpan(2 * 1024, 1024).ToArray(), 1, 1, 32, 32));
        Assert.Equal(s.EncoderNorm[2], one.EncoderNorm[0], 4);
        Assert.Equal(s.FeatureDistance[2], one.FeatureDistance[0], 3);
        var bad = Assert.Throws<UserError>(() => g.ScoreBatch(Tensor.Zeros(Cpu, 2, 3, 32, 32)));
        Assert.Contains("[N, 1, 32, 32]", bad.Message);
    }

    [Fact]
    public void LoadingAFolderWithoutAGanSaysWhatToDo()
    {
        Directory.CreateDirectory(_dir);
        var ex = Assert.Throws<UserError>(() => GanRun.Load(_dir, Cpu));
        Assert.Contains("train gan", ex.Message);
    }
}
