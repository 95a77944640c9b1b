using NativeVq.Cpu;
using NativeVq.Models;

namespace NativeVq.Tests.Runtime;

/// <summary>Inference in sub-batches (cache blocking on cpu) must give exactly the whole-batch result.</summary>
public sealed class SubBatchesTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Fact]
    public void JoinsSubBatchResultsInOrder()
    {
        int n = Cpu.InferenceSubBatch * 2 + 5;
        var x = Tensor.FromArray(Cpu, Enumerable.Range(0, n * 3).ToArray(), n, 3);
        int calls = 0;
        using var _ = Autograd.NoGrad();
        var y = SubBatches.Map(x, p =>
        {
            calls++;
            var v = p.ToIntArray().Select(i => i * 0.5f).ToArray();
            return Tensor.FromArray(Cpu, v, p.Dim(0), 3);
        });
        Assert.Equal(3, calls);
        Assert.Equal([n, 3], y.Shape);
        Assert.Equal(Enumerable.Range(0, n * 3).Select(i => i * 0.5f).ToArray(), y.ToArray());
    }

    [Fact]
    public void RecordingAGraphRunsTheWholeBatch()
    {
        int n = Cpu.InferenceSubBatch + 1, calls = 0;
        var x = Tensor.Zeros(Cpu, n, 2);
        SubBatches.Map(x, p => { calls++; return p; });
        Assert.Equal(1, calls);
    }

    [Fact]
    public void PixelSnailNllOfALargeBatchEqualsImageByImage()
    {
        var cfg = new PixelSnailConfig { Codes = 9, Channels = 8, Height = 4, Width = 8, Blocks = 1, ResBlocks = 1, KeyDim = 4, ValueDim = 4 };
        var model = new PixelSnail(Cpu, cfg, seed: 3);
        int n = Cpu.InferenceSubBatch + 7;
        var rng = new Random(4);
        var codes = Enumerable.Range(0, n * 32).Select(_ => rng.Next(9)).ToArray();
        var all = model.NllMap(Tensor.FromArray(Cpu, codes, n, 4, 8)).ToArray();
        for (int i = 0; i < n; i += 5)
        {
            var one = model.NllMap(Tensor.FromArray(Cpu, codes.AsSpan(i * 32, 32), 1, 4, 8)).ToArray();
            Assert.Equal(one, all.AsSpan(i * 32, 32).ToArray());
        }
    }
}
