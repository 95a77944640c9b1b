using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Models;

public sealed class VqVaeTrainerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-train-" + Guid.NewGuid().ToString("N"));
    private static readonly VqVaeConfig Small = new() { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 16, ImageSize = 16 };

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private static float[] Params(VqVae m) => m.Parameters().SelectMany(p => p.ToArray()).ToArray();

    private VqVae Train(string name, int epochs, int maxSteps = 0, bool resume = false, IImageDataset? data = null)
        => new VqVaeTrainer(CpuBackend.Instance, data ?? new SyntheticTextures(40, 16, 3), Small,
            new VqVaeTrainOptions { Out = Path.Combine(_dir, name), Epochs = epochs, Batch = 8, Lr = 1e-3f, Seed = 5, MaxSteps = maxSteps, Resume = resume }).Run();

    [Fact]
    public void SameSeedGivesBitIdenticalParameters()
    {
        Assert.Equal(Params(Train("a", 1)), Params(Train("b", 1)));
    }

    [Fact]
    public void InterruptedAndResumedRunEqualsAnUninterruptedOne()
    {
        // 40 images / batch 8 = 5 steps an epoch; 3 epochs = 15 steps. Stop mid-epoch at step 7, resume to the end.
        var full = Params(Train("full", 3));
        Train("split", 3, maxSteps: 7);
        var resumed = Params(Train("split", 3, resume: true));
        Assert.Equal(full, resumed);
        var metrics = File.ReadAllLines(Path.Combine(_dir, "split", VqVaeTrainer.MetricsName));
        Assert.Equal(3, metrics.Length);
        Assert.True(File.Exists(Path.Combine(_dir, "split", "recon.png")));
        Assert.True(File.Exists(Path.Combine(_dir, "split", "config.json")));
    }

    [Fact]
    public void ReloadedModelMatchesTheTrainedOne()
    {
        var trained = Train("reload", 1);
        var loaded = ModelStore.LoadVqVae(Path.Combine(_dir, "reload"), CpuBackend.Instance);
        Assert.Equal(Params(trained), Params(loaded));
    }

    [Fact]
    public void RefusesToOverwriteARunWithoutResume()
    {
        Train("once", 1);
        var e = Assert.Throws<UserError>(() => Train("once", 1));
        Assert.Contains("--resume", e.Message);
    }

    [Fact]
    public void DivergenceStopsWithTheStepAndKeepsTheLastGoodCheckpoint()
    {
        var dir = Path.Combine(_dir, "nan");
        var ok = new SyntheticTextures(16, 16, 1);
        new VqVaeTrainer(CpuBackend.Instance, ok, Small, new VqVaeTrainOptions { Out = dir, Epochs = 1, Batch = 8, Seed = 1 }).Run();
        var before = File.ReadAllBytes(Path.Combine(dir, VqVaeTrainer.CheckpointName));
        var e = Assert.Throws<UserError>(() => new VqVaeTrainer(CpuBackend.Instance, new NaNData(ok), Small,
            new VqVaeTrainOptions { Out = dir, Epochs = 2, Batch = 8, Seed = 1, Resume = true }).Run());
        Assert.Contains("step 3", e.Message);
        Assert.Contains("last good checkpoint", e.Message);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(dir, VqVaeTrainer.CheckpointName)));
    }

    /// <summary>Images with a NaN pixel: the loss becomes NaN at the first step that sees them.</summary>
    private sealed class NaNData(IImageDataset inner) : IImageDataset
    {
        public int Count => inner.Count;
        public int Channels => inner.Channels;
        public int Size => inner.Size;
        public void Load(int index, Span<float> chw) { inner.Load(index, chw); chw[0] = float.NaN; }
        public string NameOf(int index) => inner.NameOf(index);
        public int LabelOf(int index) => inner.LabelOf(index);
    }
}

public sealed class VqVaeCodebookOptionsTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-ema-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    [Fact]
    public void EmaCodebookIsABufferThatMovesTowardsTheEncodings()
    {
        var cfg = new VqVaeConfig { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 16, ImageSize = 16, Ema = true };
        var model = new VqVae(CpuBackend.Instance, cfg, seed: 2);
        Assert.DoesNotContain(model.NamedParameters(), p => p.Name == "vq.embedding.weight");
        Assert.Contains(model.NamedBuffers(), p => p.Name == "vq.embedding.weight");

        using var scope = new TensorScope();
        var x = Support.GradCheck.Random(CpuBackend.Instance, 3, 4, 1, 16, 16);
        var o = model.Forward(x);
        var before = model.Quantizer.Codebook.ToArray();
        // With decay → 0 the update would jump to the batch means; with 0.99 it moves 1 % of the way.
        model.Quantizer.UpdateEma(o.ZE, o.Indices);
        var after = model.Quantizer.Codebook.ToArray();
        Assert.NotEqual(before, after);
        // A used code moves towards the mean of its encodings.
        var idx = o.Indices.ToIntArray();
        var z = o.ZE.ToArray();
        int code = idx[0], hw = 16, d = 4;
        var mean = new double[d]; int count = 0;
        for (int p = 0; p < idx.Length; p++)
            if (idx[p] == code) { count++; for (int j = 0; j < d; j++) mean[j] += z[((p / hw) * d + j) * hw + p % hw]; }
        double distBefore = 0, distAfter = 0;
        for (int j = 0; j < d; j++)
        {
            double m = mean[j] / count;
            distBefore += Math.Pow(before[code * d + j] - m, 2);
            distAfter += Math.Pow(after[code * d + j] - m, 2);
        }
        Assert.True(distAfter < distBefore);
    }

    [Fact]
    public void DeadCodeRestartMovesUnusedCodesOntoEncodings()
    {
        var cfg = new VqVaeConfig { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 16, ImageSize = 16 };
        var model = new VqVae(CpuBackend.Instance, cfg, seed: 2);
        using var scope = new TensorScope();
        var o = model.Forward(Support.GradCheck.Random(CpuBackend.Instance, 4, 2, 1, 16, 16));
        var usage = new long[16];
        foreach (var c in o.Indices.ToIntArray()) usage[c]++;
        int dead = usage.Count(u => u == 0);
        Assert.True(dead > 0);
        Assert.Equal(dead, model.Quantizer.RestartDeadCodes(o.ZE, o.Indices, usage, new Rng(1)));
        var book = model.Quantizer.Codebook.ToArray();
        var z = o.ZE.ToArray();
        int deadCode = Array.IndexOf(usage, 0L);
        // The restarted row equals some encoder output vector.
        bool found = false;
        for (int p = 0; p < 2 * 16 && !found; p++)
            found = Enumerable.Range(0, 4).All(j => book[deadCode * 4 + j] == z[((p / 16) * 4 + j) * 16 + p % 16]);
        Assert.True(found);
    }

    [Fact]
    public void EmaRunResumesExactly()
    {
        var cfg = new VqVaeConfig { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 16, ImageSize = 16, Ema = true };
        VqVae Run(string name, int maxSteps, bool resume) => new VqVaeTrainer(CpuBackend.Instance, new SyntheticTextures(24, 16, 3), cfg,
            new VqVaeTrainOptions { Out = Path.Combine(_dir, name), Epochs = 2, Batch = 8, Seed = 5, MaxSteps = maxSteps, Resume = resume, RestartDeadCodesEvery = 2 }).Run();
        var full = Run("full", 0, false).StateDict().SelectMany(t => t.Tensor.ToArray()).ToArray();
        Run("split", 4, false);
        var resumed = Run("split", 0, true).StateDict().SelectMany(t => t.Tensor.ToArray()).ToArray();
        Assert.Equal(full, resumed);
    }
}
