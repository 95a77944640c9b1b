using NativeVq.Models;
using NativeVq.Optim;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// A VQ-VAE training step on an ILGPU backend keeps every tensor on the device: the counter of host↔device copies
/// (Backend.Transfers, which the profiler also reports) sees exactly the batch going in and the loss scalar coming out.
/// Run through cuda's kernels (tiled GEMM/conv/argmin, fused attention) on the CPU accelerator at a tiny size; the first
/// step fills the buffer pool and Adam's state, the second is the one counted.
/// </summary>
[Collection("ilgpu")]
public sealed class TrainingStepTransferTests(IlgpuFixture ilgpu)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)] // with the EMA codebook update (Backend.EmaCodebookUpdate) after the optimizer step
    public void VqVaeStepCopiesOnlyTheBatchInAndTheLossOut(bool ema)
    {
        var be = ilgpu.Backend;
        var cfg = new VqVaeConfig { Channels = 4, ResChannels = 2, ResBlocks = 1, EmbeddingDim = 3, CodebookSize = 6, ImageSize = 8, Ema = ema };
        var model = new VqVae(be, cfg, seed: 1);
        using var adam = new Adam(model.Parameters(), 1e-3f);
        var batch = GradCheck.Random(NativeVq.Cpu.CpuBackend.Instance, 1, 2 * cfg.ImageChannels * 8 * 8).ToArray();
        float Step()
        {
            using var scope = new TensorScope();
            var o = model.Forward(Tensor.FromArray(be, batch, 2, cfg.ImageChannels, 8, 8));
            o.Loss.Backward();
            adam.Step();
            adam.ZeroGrad();
            if (ema) model.Quantizer.UpdateEma(o.ZE, o.Indices);
            return o.Loss.Item();
        }
        be.UseTiledGemm = be.UseFusedAttention = true;
        try
        {
            Step();
            var before = be.Transfers.Snapshot();
            float loss = Step();
            var d = be.Transfers.Since(before);
            Assert.True(float.IsFinite(loss));
            Assert.Equal(new TransferCounter.Counts(1, 4L * batch.Length, 1, 4), d);
        }
        finally { be.UseTiledGemm = be.UseFusedAttention = false; }
    }

    [Fact]
    public void CounterSeesEveryCopy()
    {
        // The counter itself: an upload and a download of known sizes (so the step test cannot pass by counting nothing).
        var be = ilgpu.Backend;
        var before = be.Transfers.Snapshot();
        using var scope = new TensorScope();
        var t = Tensor.FromArray(be, new float[10], 10);
        _ = t.ToArray();
        _ = Tensor.FromArray(be, new int[3], 3).ToIntArray();
        Assert.Equal(new TransferCounter.Counts(2, 52, 2, 52), be.Transfers.Since(before));
    }
}
