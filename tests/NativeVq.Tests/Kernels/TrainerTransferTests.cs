using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The trainers' loops on an ILGPU backend (cuda's kernels on the CPU accelerator, tiny models): between two progress
/// reports a step copies its batch in and nothing out, except every StepReadInterval steps, when the host reads the
/// losses (and the VQ-VAE's code counts) kept on the device in one download each.
/// </summary>
[Collection("ilgpu")]
public sealed class TrainerTransferTests(IlgpuFixture ilgpu) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nvq-transfer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Records the transfer counter at every per-step progress report.</summary>
    private sealed class StepCopies(Backend be) : IProgress<TrainingProgress>
    {
        public List<TransferCounter.Counts> AtStep { get; } = new();
        public void Report(TrainingProgress p) { if (!p.Finished) AtStep.Add(be.Transfers.Snapshot()); }
    }

    private static void AssertSteps(List<TransferCounter.Counts> at, int interval, int uploadsPerStep, int downloadsPerStep, int downloadsPerRead)
    {
        Assert.True(at.Count >= 2 * interval, $"only {at.Count} steps reported");
        for (int s = 1; s < at.Count; s++) // step s + 1 (1-based); the first step also builds Adam's state and the pool
        {
            Assert.Equal(uploadsPerStep, at[s].Uploads - at[s - 1].Uploads);
            Assert.Equal(downloadsPerStep + ((s + 1) % interval == 0 ? downloadsPerRead : 0), at[s].Downloads - at[s - 1].Downloads);
        }
    }

    /// <summary>Both ways of learning the codebook: by gradient, and by EMA (the CLI's default, one device op per step).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void VqVaeTrainerStepsCopyOnlyTheirBatchIn(bool ema)
    {
        var be = ilgpu.Backend;
        var data = new SyntheticTextures(14, 8, 3);
        var cfg = new VqVaeConfig { Channels = 4, ResChannels = 2, ResBlocks = 1, EmbeddingDim = 3, CodebookSize = 6, ImageSize = 8, Ema = ema };
        var copies = new StepCopies(be);
        be.UseTiledGemm = be.UseFusedAttention = true;
        try
        {
            new VqVaeTrainer(be, data, cfg, new VqVaeTrainOptions { Out = Path.Combine(_dir, ema ? "vq-ema" : "vq"), Epochs = 1, Batch = 2, Seed = 1, GridImages = 0 })
                { Progress = copies, StepReadInterval = 3 }.Run();
        }
        finally { be.UseTiledGemm = be.UseFusedAttention = false; }
        AssertSteps(copies.AtStep, 3, uploadsPerStep: 1, downloadsPerStep: 0, downloadsPerRead: 2);   // the losses and the code counts
    }

    [Fact]
    public void PriorTrainerStepsCopyOnlyTheirBatchIn()
    {
        var be = ilgpu.Backend;
        var rng = new Rng(3);
        var train = new CodeMaps(Enumerable.Range(0, 14 * 9).Select(_ => rng.NextInt(4)).ToArray(), new int[14], 14, 3, 3);
        var cfg = new PixelSnailConfig { Codes = 4, Height = 3, Width = 3, Channels = 4, Blocks = 1, ResBlocks = 1, KeyDim = 2, ValueDim = 4 };
        var copies = new StepCopies(be);
        be.UseTiledGemm = be.UseFusedAttention = true;
        try
        {
            new PriorTrainer(be, train, new CodeMaps([], [], 0, 3, 3), cfg, new PriorTrainOptions { Out = Path.Combine(_dir, "prior"), Epochs = 1, Batch = 2, Seed = 1 })
                { Progress = copies, StepReadInterval = 3 }.Run();
        }
        finally { be.UseTiledGemm = be.UseFusedAttention = false; }
        // The batch's codes are range-checked on the host (Tensor.FromCodes), so one-hot and cross-entropy read nothing back.
        AssertSteps(copies.AtStep, 3, uploadsPerStep: 1, downloadsPerStep: 0, downloadsPerRead: 1);   // the losses
    }
}
