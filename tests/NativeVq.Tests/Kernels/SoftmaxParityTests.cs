using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;
using NativeVq.Tests.Ops;

namespace NativeVq.Tests.Kernels;

/// <summary>The softmax-family ILGPU kernels on the CPU accelerator against the cpu backend (small shapes).</summary>
[Collection("ilgpu")]
public sealed class SoftmaxParityTests(IlgpuFixture ilgpu)
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    [InlineData(false, new[] { 2, 5, 3, 7 })]
    [InlineData(true, new[] { 2, 5, 3, 7 })]
    [InlineData(false, new[] { 3, 9 })]
    [InlineData(true, new[] { 3, 9 })]
    public void SoftmaxChannelsForwardAndBackward(bool log, int[] shape)
    {
        var x = GradCheck.Random(Cpu, 91, -3f, 3f, shape);
        var dy = GradCheck.Random(Cpu, 92, shape);
        int n = shape[0], c = shape[1], hw = x.Numel / (n * c);
        Parity.Check(ilgpu.Backend, [x, dy], (b, t) =>
        {
            var y = Tensor.Empty(b, shape);
            b.SoftmaxChannels(t[0], y, n, c, hw, log);
            var dx = Tensor.Full(b, 0.25f, shape);
            b.SoftmaxChannelsBackward(y, t[1], dx, n, c, hw, log);
            return [y, dx];
        });
    }

    [Fact]
    public void CrossEntropyForwardAndBackward()
    {
        int[] shape = [2, 7, 3, 5];
        var logits = GradCheck.Random(Cpu, 93, -3f, 3f, shape);
        var targets = SoftmaxTests.RandomTargets(Cpu, 94, shape);
        var dnll = GradCheck.Random(Cpu, 95, 2, 3, 5);
        Parity.Check(ilgpu.Backend, [logits, targets, dnll], (b, t) =>
        {
            var nll = Tensor.Empty(b, 2, 3, 5);
            var lse = Tensor.Empty(b, 2, 3, 5);
            b.CrossEntropy(t[0], t[1], nll, lse, 2, 7, 15);
            var dx = Tensor.Full(b, 0.5f, shape);
            b.CrossEntropyBackward(t[0], t[1], lse, t[2], dx, 2, 7, 15);
            return [nll, lse, dx];
        });
    }

    [Fact]
    public void CrossEntropyOpRejectsBadTargetsOnDevice()
    {
        using var scope = new TensorScope();
        var logits = GradCheck.Random(ilgpu.Backend, 96, 2, 4, 3);
        var bad = Tensor.FromArray(ilgpu.Backend, new[] { 0, 1, 4, 3, 2, 1 }, 2, 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => F.CrossEntropyMap(logits, bad));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MaskedSoftmaxForwardAndBackward(bool strict)
    {
        var s = GradCheck.Random(Cpu, 97, -3f, 3f, 3, 9, 9);
        var dp = GradCheck.Random(Cpu, 98, 3, 9, 9);
        Parity.Check(ilgpu.Backend, [s, dp], (b, t) =>
        {
            var p = Tensor.Empty(b, 3, 9, 9);
            b.MaskedSoftmaxRows(t[0], p, 3, 9, 0.6f, strict);
            var ds = Tensor.Full(b, -0.5f, 3, 9, 9);
            b.MaskedSoftmaxRowsBackward(p, t[1], ds, 3, 9, 0.6f, strict);
            return [p, ds];
        });
    }

    /// <summary>
    /// The one-warp-per-row kernels cuda runs (warp-shuffle max and sums): rows longer than a warp (n = 9 on the
    /// simulator's 4-lane warps), shorter (n = 3), a strict row with no key (n = 1), and row counts that leave the last
    /// group partly empty. P is poisoned with NaN (the forward overwrites every element).
    /// </summary>
    [Theory]
    [InlineData(3, 9, false)]
    [InlineData(3, 9, true)]
    [InlineData(5, 3, true)]
    [InlineData(7, 1, true)]
    public void MaskedSoftmaxWarpKernelsMatchCpu(int batch, int n, bool strict)
    {
        var s = GradCheck.Random(Cpu, 103, -3f, 3f, batch, n, n);
        var dp = GradCheck.Random(Cpu, 104, batch, n, n);
        Parity.Check(ilgpu.Backend, [s, dp], (b, t) =>
        {
            var p = Tensor.Full(b, float.NaN, batch, n, n);
            var ds = Tensor.Full(b, -0.5f, batch, n, n);
            if (b is IlgpuBackend ib)
            {
                ib.MaskedSoftmaxRowsWarp(t[0], p, batch, n, 0.6f, strict);
                ib.MaskedSoftmaxRowsBackwardWarp(p, t[1], ds, batch, n, 0.6f, strict);
            }
            else
            {
                b.MaskedSoftmaxRows(t[0], p, batch, n, 0.6f, strict);
                b.MaskedSoftmaxRowsBackward(p, t[1], ds, batch, n, 0.6f, strict);
            }
            return [p, ds];
        });
    }

    [Fact]
    public void CausalAttentionOpForwardAndGradients()
    {
        var q = GradCheck.Random(Cpu, 99, 2, 4, 6);
        var k = GradCheck.Random(Cpu, 100, 2, 4, 6);
        var v = GradCheck.Random(Cpu, 101, 2, 6, 6);
        var up = GradCheck.Random(Cpu, 102, 2, 6, 6);
        foreach (var x in new[] { q, k, v }) x.RequiresGrad = true;
        Parity.Check(ilgpu.Backend, [q, k, v, up], (b, t) =>
        {
            var o = F.CausalAttentionCore(t[0], t[1], t[2], heads: 2, strict: true);
            o.Backward(t[3]);
            return [o, t[0].Grad!, t[1].Grad!, t[2].Grad!];
        });
        foreach (var x in new[] { q, k, v }) { x.Grad = null; x.RequiresGrad = false; }
    }
}
