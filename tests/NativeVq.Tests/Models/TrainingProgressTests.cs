using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Models;

/// <summary>
/// The Models layer reports through IProgress / Notice only, never to the console. Console.Error is redirected, so
/// the class belongs to the "console" collection (with the CLI tests, which also swap the console streams).
/// </summary>
[Collection("console")]
public sealed class TrainingProgressTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-progress-" + Guid.NewGuid().ToString("N"));
    private static readonly VqVaeConfig Small = new() { Channels = 8, ResChannels = 4, ResBlocks = 1, EmbeddingDim = 4, CodebookSize = 16, ImageSize = 16 };

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    /// <summary>Keeps every report in order, synchronously (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class Capture : IProgress<TrainingProgress>
    {
        public List<TrainingProgress> Reports { get; } = new();
        public void Report(TrainingProgress p) => Reports.Add(p);
    }

    private static string CaptureStderr(Action run)
    {
        var saved = Console.Error;
        var err = new StringWriter();
        Console.SetError(err);
        try { run(); }
        finally { Console.SetError(saved); }
        return err.ToString();
    }

    [Fact]
    public void TrainersAndEncodingReportThroughProgressAndNoticeNotTheConsole()
    {
        var data = new SyntheticTextures(24, 16, 3);   // batch 8: 3 steps an epoch
        var vqProgress = new Capture();
        var notices = new List<string>();
        VqVae Train(int maxSteps, bool resume) => new VqVaeTrainer(CpuBackend.Instance, data, Small,
            new VqVaeTrainOptions { Out = Path.Combine(_dir, "vq"), Epochs = 2, Batch = 8, Seed = 3, MaxSteps = maxSteps, Resume = resume })
            { Progress = vqProgress, Notice = notices.Add }.Run();
        var encodeProgress = new Capture();
        var priorProgress = new Capture();

        string stderr = CaptureStderr(() =>
        {
            Train(maxSteps: 4, resume: false);   // stops mid-epoch 2 with a checkpoint
            var vq = Train(maxSteps: 0, resume: true);
            var maps = CodeMaps.Encode(vq, data, CpuBackend.Instance, batch: 10, progress: encodeProgress);
            new PriorTrainer(CpuBackend.Instance, maps.Take(Enumerable.Range(4, 20).ToArray()), maps.Take(Enumerable.Range(0, 4).ToArray()),
                new PixelSnailConfig { Codes = 16, Height = maps.Height, Width = maps.Width, Channels = 8, Blocks = 1, ResBlocks = 1, KeyDim = 4, ValueDim = 8 },
                new PriorTrainOptions { Out = Path.Combine(_dir, "vq"), Epochs = 1, Batch = 10, Seed = 3 })
                { Progress = priorProgress, Notice = notices.Add }.Run();
        });

        Assert.Equal("", stderr);
        // Epoch 1 (3 steps, finished), epoch 2 stopped at step 4, then resumed: steps 5 and 6 and its end.
        var vq = vqProgress.Reports;
        Assert.Equal(["epoch 1/2", "epoch 2/2"], vq.Select(p => p.Label).Distinct());
        Assert.Equal([1, 2, 3, 3, 1, 1, 2, 3, 3], vq.Select(p => p.Done));
        Assert.Equal([false, false, false, true, false, true, false, false, true], vq.Select(p => p.Finished));
        Assert.True(vq[^1].Finished);
        Assert.Contains("codes", vq[^1].Figures);
        Assert.All(vq, p => Assert.Equal(3, p.Total));
        Assert.All(vq, p => Assert.True(p.Seconds >= 0));
        Assert.Contains(notices, n => n.StartsWith("resuming ") && n.Contains("at step 4"));

        // 24 images in batches of 10: 3 batches, then the summary.
        Assert.Equal([1, 2, 3], encodeProgress.Reports.Where(p => !p.Finished).Select(p => p.Done));
        Assert.Equal([10L, 20, 24], encodeProgress.Reports.Where(p => !p.Finished).Select(p => p.Items));
        Assert.True(encodeProgress.Reports[^1].Finished);
        Assert.Equal("24 images", encodeProgress.Reports[^1].Figures);

        Assert.True(priorProgress.Reports[^1].Finished);
        Assert.Equal("prior epoch 1/1", priorProgress.Reports[^1].Label);
        Assert.Contains(notices, n => n.StartsWith("calibration: λ = "));
    }
}
