using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Models;

public sealed class VqVaeTrainerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-train-" + Guid.NewGuid().ToString("N"));
    private static readonly VqVaeConfig Small = new() { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 16, ImageSize = 16 };

    public VqVaeTrainerTests() => ProgressBar.Silent = true;

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
