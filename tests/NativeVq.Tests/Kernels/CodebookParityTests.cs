using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>The codebook, loss and optimizer ILGPU kernels on the CPU accelerator against the cpu backend.</summary>
[Collection("ilgpu")]
public sealed class CodebookParityTests(IlgpuFixture ilgpu)
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    private static Tensor Codes(int seed, int k, params int[] shape)
    {
        var rng = new Random(seed);
        return Tensor.FromArray(Cpu, Enumerable.Range(0, ShapeUtil.Numel(shape)).Select(_ => rng.Next(k)).ToArray(), shape);
    }

    [Fact]
    public void NearestCodeWithDuplicateRows()
    {
        int n = 2, d = 5, h = 5, w = 7, k = 13;
        var z = GradCheck.Random(Cpu, 81, n, d, h, w);
        var cb = GradCheck.Random(Cpu, 82, k, d).ToArray();
        Array.Copy(cb, 2 * d, cb, 9 * d, d);            // row 9 duplicates row 2
        var zd = z.ToArray();
        for (int c = 0; c < d; c++) zd[c * h * w + 3] = cb[2 * d + c]; // position 3 sits exactly on it
        var zt = Tensor.FromArray(Cpu, zd, n, d, h, w);
        var cbt = Tensor.FromArray(Cpu, cb, k, d);
        Parity.Check(ilgpu.Backend, [zt, cbt], (b, t) => [F.NearestCode(t[0], t[1])]);
        Assert.Equal(2, F.NearestCode(zt, cbt).ToIntArray()[3]);
    }

    [Fact]
    public void GatherForwardBackwardAndOneHot()
    {
        int n = 2, d = 3, h = 4, w = 5, k = 6;
        var cb = GradCheck.Random(Cpu, 83, k, d);
        var idx = Codes(84, k, n, h, w);
        var dzq = GradCheck.Random(Cpu, 85, n, d, h, w);
        Parity.Check(ilgpu.Backend, [cb, idx, dzq], (b, t) =>
        {
            var zq = Tensor.Empty(b, n, d, h, w);
            b.GatherCodes(t[0], t[1], zq, n, d, h * w, k);
            var dcb = Tensor.Full(b, 0.25f, k, d);
            b.GatherCodesBackward(t[2], t[1], dcb, n, d, h * w, k);
            return [zq, dcb, F.OneHot(t[1], k)];
        });
    }

    [Fact]
    public void OneHotRejectsBadCodesOnIlgpu()
    {
        var bad = Tensor.FromArray(ilgpu.Backend, new[] { 0, 1, 2, 7, 1, 9 }, 2, 3);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => F.OneHot(bad, 4));
        Assert.Contains("code 7", ex.Message);
        Assert.Contains("flat 3", ex.Message);
    }

    [Theory]
    [InlineData(PairLoss.Mse)]
    [InlineData(PairLoss.L1)]
    public void LossForwardBackward(PairLoss kind)
    {
        var a = GradCheck.Random(Cpu, 86, 3, 1000);
        var bd = GradCheck.Random(Cpu, 87, 3, 1000).ToArray();
        var ad = a.ToArray();
        for (int i = 0; i < 50; i++) bd[i * 7] = ad[i * 7]; // exact ties: sign(0) = 0 on both
        var bt = Tensor.FromArray(Cpu, bd, 3, 1000);
        var up = Tensor.FromArray(Cpu, new[] { -1.7f }, 1);
        Parity.Check(ilgpu.Backend, [a, bt, up], (b, t) =>
        {
            var y = Tensor.Empty(b, 1);
            b.LossForward(kind, t[0], t[1], y);
            var da = Tensor.Full(b, 0.5f, 3, 1000);
            var db = Tensor.Full(b, -0.5f, 3, 1000);
            b.LossBackward(kind, t[0], t[1], t[2], da, db);
            var da2 = Tensor.Zeros(b, 3, 1000);
            b.LossBackward(kind, t[0], t[1], t[2], da2, null);
            return [y, da, db, da2];
        }, rtol: 1e-5, atol: 1e-6);
    }

    [Fact]
    public void AdamStepAndSumSquares()
    {
        var p = GradCheck.Random(Cpu, 88, 2100);
        var g = GradCheck.Random(Cpu, 89, 2100);
        var m = GradCheck.Random(Cpu, 90, 2100);
        var v = GradCheck.Random(Cpu, 91, 0f, 1e-3f, 2100);
        Parity.Check(ilgpu.Backend, [p, g, m, v], (b, t) =>
        {
            var outs = t.Select(x => { var c = Tensor.Empty(b, x.Shape); b.Axpby(x, c, 1f, 0f); return c; }).ToArray();
            b.AdamStep(outs[0], outs[1], outs[2], outs[3], AdamArgs.ForStep(1e-3, 0.9, 0.999, 1e-8, 0.0, 3));
            b.AdamStep(outs[0], outs[1], outs[2], outs[3], AdamArgs.ForStep(3e-4, 0.8, 0.99, 1e-8, 0.05, 4));
            var s = Tensor.Zeros(b, 2);
            b.SumSquares(t[1], s, 1);
            return [outs[0], outs[2], outs[3], s];
        }, rtol: 1e-5, atol: 1e-6);
    }
}
