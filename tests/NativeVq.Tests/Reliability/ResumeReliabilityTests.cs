using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Reliability;

/// <summary>Issue 8: a resumed run reports exactly what an uninterrupted one does, and never mixes with an older run's files.</summary>
public sealed class ResumeReliabilityTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-resume-" + Guid.NewGuid().ToString("N"));
    private static readonly VqVaeConfig Small = new() { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 16, ImageSize = 16 };
    private static readonly PixelSnailConfig SmallPrior = new() { Codes = 6, Height = 4, Width = 4, Channels = 8, KeyDim = 4, ValueDim = 8, Dropout = 0.1f };

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private string Dir(string name) => Path.Combine(_dir, name);

    private void TrainVq(string name, int maxSteps = 0, bool resume = false, int batch = 8, bool allow = false, IImageDataset? data = null)
        => new VqVaeTrainer(CpuBackend.Instance, data ?? new SyntheticTextures(40, 16, 3), Small,
            new VqVaeTrainOptions { Out = Dir(name), Epochs = 2, Batch = batch, Lr = 1e-3f, Seed = 5, MaxSteps = maxSteps, Resume = resume, AllowChangedOptions = allow }).Run();

    private static CodeMaps Maps(int n, int seed)
    {
        var rng = new Rng((ulong)seed);
        return new CodeMaps(Enumerable.Range(0, n * 16).Select(i => i % 4 == 0 ? rng.NextInt(6) : i % 3).ToArray(), new int[n], n, 4, 4);
    }

    private void TrainPrior(string name, int maxSteps = 0, bool resume = false, float lr = 3e-3f, bool allow = false)
        => new PriorTrainer(CpuBackend.Instance, Maps(20, 1), Maps(5, 2), SmallPrior,
            new PriorTrainOptions { Out = Dir(name), Epochs = 2, Batch = 8, Lr = lr, Schedule = "cosine", Seed = 4, MaxSteps = maxSteps, Resume = resume, AllowChangedOptions = allow }).Run();

    /// <summary>The metrics lines without their timing fields (wall-clock figures differ between any two runs).</summary>
    private static string[] Metrics(string path) => File.ReadAllLines(path).Select(l =>
    {
        var o = JsonNode.Parse(l)!.AsObject();
        o.Remove("seconds"); o.Remove("images_per_second");
        return o.ToJsonString();
    }).ToArray();

    [Fact]
    public void MidEpochResumeWritesTheSameVqVaeMetricsAsAnUninterruptedRun()
    {
        TrainVq("full");
        TrainVq("split", maxSteps: 3);   // 5 steps an epoch: stop inside epoch 1
        TrainVq("split", resume: true);
        Assert.Equal(Metrics(Path.Combine(Dir("full"), VqVaeTrainer.MetricsName)), Metrics(Path.Combine(Dir("split"), VqVaeTrainer.MetricsName)));
    }

    [Fact]
    public void MidEpochResumeWritesTheSamePriorMetricsAsAnUninterruptedRun()
    {
        TrainPrior("full");
        TrainPrior("split", maxSteps: 2);   // 3 steps an epoch
        TrainPrior("split", resume: true);
        Assert.Equal(Metrics(Path.Combine(Dir("full"), PriorTrainer.MetricsName)), Metrics(Path.Combine(Dir("split"), PriorTrainer.MetricsName)));
    }

    [Fact]
    public void StoppingAtTheLastBatchOfAnEpochStillWritesThatEpochsLine()
    {
        TrainVq("edge", maxSteps: 5);
        Assert.Single(File.ReadAllLines(Path.Combine(Dir("edge"), VqVaeTrainer.MetricsName)));
        TrainVq("edge", resume: true);
        Assert.Equal(2, File.ReadAllLines(Path.Combine(Dir("edge"), VqVaeTrainer.MetricsName)).Length);
    }

    [Fact]
    public void ResumeWithChangedOptionsIsRefusedUnlessAllowedAndThenRecorded()
    {
        TrainVq("vq", maxSteps: 3);
        var e = Assert.Throws<UserError>(() => TrainVq("vq", resume: true, batch: 4));
        Assert.Contains("--batch 8 → 4", e.Message);
        Assert.Contains("--allow-changed-options", e.Message);
        TrainVq("vq", resume: true, batch: 4, allow: true);
        var lines = File.ReadAllLines(Path.Combine(Dir("vq"), VqVaeTrainer.MetricsName)).Select(l => JsonNode.Parse(l)!).ToList();
        var change = Assert.Single(lines, l => l["event"] is not null);
        Assert.Equal("resumed with changed options", change["event"]!.GetValue<string>());
        Assert.Equal("--batch 8 → 4", Assert.Single(change["changed"]!.AsArray())!.GetValue<string>());
        Assert.Equal([0, 1, 2], lines.Select(l => l["epoch"]!.GetValue<int>()));   // recorded where it happened: inside epoch 1, after 0 complete epochs

        TrainPrior("prior", maxSteps: 2);
        Assert.Contains("--lr", Assert.Throws<UserError>(() => TrainPrior("prior", resume: true, lr: 1e-3f)).Message);
        TrainPrior("prior", resume: true, lr: 1e-3f, allow: true);
        Assert.Contains(File.ReadAllLines(Path.Combine(Dir("prior"), PriorTrainer.MetricsName)), l => l.Contains("--lr"));
    }

    [Fact]
    public void AFreshRunReplacesTheMetricsOfAFailedOneAndAFailedRunLeavesNoConfig()
    {
        var run = Dir("fresh");
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, VqVaeTrainer.MetricsName), "{\"epoch\":1,\"step\":5}\n");   // a first epoch that never got its checkpoint
        TrainVq("fresh");
        Assert.Equal([1, 2], File.ReadAllLines(Path.Combine(run, VqVaeTrainer.MetricsName)).Select(l => JsonNode.Parse(l)!["epoch"]!.GetValue<int>()));

        Assert.Throws<UserError>(() => TrainVq("broken", data: new Unreadable(new SyntheticTextures(40, 16, 3))));
        Assert.False(File.Exists(Path.Combine(Dir("broken"), "config.json")));
    }

    /// <summary>A dataset whose every image fails to load, like a folder of damaged files.</summary>
    private sealed class Unreadable(IImageDataset inner) : IImageDataset
    {
        public int Count => inner.Count;
        public int Channels => inner.Channels;
        public int Size => inner.Size;
        public void Load(int index, Span<float> chw) => throw new UserError($"img{index}.png: PNG file is truncated");
        public string NameOf(int index) => inner.NameOf(index);
        public int LabelOf(int index) => inner.LabelOf(index);
    }
}
