using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>The direct ILGPU conv kernels on the CPU accelerator against the cpu im2col+GEMM path.</summary>
[Collection("ilgpu")]
public sealed class ConvParityTests(IlgpuFixture ilgpu)
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    // n, cin, h, w, cout, kh, kw, stride, padTop, padBottom, padLeft, padRight
    [InlineData(2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1)]
    [InlineData(2, 3, 9, 7, 2, 4, 4, 2, 1, 1, 1, 1)]
    [InlineData(1, 4, 5, 6, 3, 1, 1, 1, 0, 0, 0, 0)]
    [InlineData(2, 3, 6, 6, 4, 2, 5, 1, 1, 0, 2, 2)]
    [InlineData(1, 2, 9, 7, 3, 3, 2, 2, 0, 1, 2, 0)]
    public void ForwardAndBothBackwardsMatchCpu(int n, int cin, int h, int w, int cout, int kh, int kw, int stride, int pt, int pb, int pl, int pr)
    {
        var g = ConvGeom.Create(n, cin, h, w, cout, kh, kw, stride, stride, pt, pb, pl, pr);
        var x = GradCheck.Random(Cpu, 71, n, cin, h, w);
        var wt = GradCheck.Random(Cpu, 72, cout, cin, kh, kw);
        var bias = GradCheck.Random(Cpu, 73, cout);
        var dy = GradCheck.Random(Cpu, 74, n, cout, g.Hout, g.Wout);
        Parity.Check(ilgpu.Backend, [x, wt, bias, dy], (b, t) =>
        {
            var y = Tensor.Full(b, float.NaN, n, cout, g.Hout, g.Wout); // forward overwrites
            b.Conv2dForward(t[0], t[1], t[2], y, g);
            var dx = Tensor.Full(b, 0.25f, n, cin, h, w);                 // backwards accumulate
            b.Conv2dBackwardInput(t[3], t[1], dx, g);
            var dw = Tensor.Full(b, -0.5f, cout, cin, kh, kw);
            b.Conv2dBackwardWeight(t[0], t[3], dw, g);
            return [y, dx, dw];
        }, rtol: 1e-4, atol: 1e-4);
    }

    [Fact]
    public void ConvTransposeOpMatchesCpu()
    {
        var x = GradCheck.Random(Cpu, 75, 2, 3, 4, 5);
        var w = GradCheck.Random(Cpu, 76, 3, 2, 4, 4);
        var bias = GradCheck.Random(Cpu, 77, 2);
        x.RequiresGrad = w.RequiresGrad = bias.RequiresGrad = true;
        Parity.Check(ilgpu.Backend, [x, w, bias], (b, t) =>
        {
            var y = F.ConvTranspose2d(t[0], t[1], t[2], 2, 1);
            F.Sum(F.Mul(y, y)).Backward();
            var r = new[] { y, t[0].Grad!, t[1].Grad!, t[2].Grad! };
            foreach (var i in t) i.Grad = null; // the cpu inputs are reused by the ilgpu run's copies
            return r;
        }, rtol: 1e-4, atol: 1e-4);
    }
}
