using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>The shape and gating ILGPU kernels on the CPU accelerator against the cpu backend.</summary>
[Collection("ilgpu")]
public sealed class ShapeParityTests(IlgpuFixture ilgpu)
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    [InlineData(2, 3, 5, 4, 0, 0)]    // pad
    [InlineData(2, 3, 2, 3, -1, -2)]  // crop
    [InlineData(2, 3, 5, 4, 1, 0)]    // down shift
    [InlineData(2, 3, 5, 4, 0, 1)]    // right shift
    [InlineData(2, 3, 8, 7, 3, -1)]   // mixed
    public void Translate2dForwardAndAccumulate(int n, int c, int hOut, int wOut, int offY, int offX)
    {
        var x = GradCheck.Random(Cpu, 61, n, c, 5, 4);
        var y0 = GradCheck.Random(Cpu, 62, n, c, hOut, wOut);
        if (offY == 0 && offX == 0) { offY = 2; offX = 1; }
        Parity.Check(ilgpu.Backend, [x, y0], (b, t) =>
        {
            var y = Tensor.Full(b, float.NaN, t[1].Shape); // overwrite must not read y
            b.Translate2d(t[0], y, offY, offX, accumulate: false);
            var acc = Tensor.Empty(b, t[1].Shape);
            b.Axpby(t[1], acc, 1f, 0f);
            b.Translate2d(t[0], acc, offY, offX, accumulate: true);
            var back = Tensor.Full(b, 0.5f, t[0].Shape);
            b.Translate2d(t[1], back, -offY, -offX, accumulate: true);
            return [y, acc, back];
        }, rtol: 0, atol: 1e-6);
    }

    [Fact]
    public void CopyChannelsForwardAndAccumulate()
    {
        var src = GradCheck.Random(Cpu, 63, 3, 5, 3, 7);
        var dst0 = GradCheck.Random(Cpu, 64, 3, 4, 3, 7);
        Parity.Check(ilgpu.Backend, [src, dst0], (b, t) =>
        {
            var d1 = Tensor.Empty(b, t[1].Shape);
            b.Axpby(t[1], d1, 1f, 0f);
            b.CopyChannels(t[0], d1, 1, 2, 2, accumulate: false);
            var d2 = Tensor.Empty(b, t[1].Shape);
            b.Axpby(t[1], d2, 1f, 0f);
            b.CopyChannels(t[0], d2, 0, 0, 4, accumulate: true);
            var s = Tensor.Full(b, 0.25f, t[0].Shape);
            b.CopyChannels(t[1], s, 1, 3, 2, accumulate: true);
            return [d1, d2, s];
        }, rtol: 0, atol: 1e-6);
    }

    [Fact]
    public void GluForwardAndBackward()
    {
        var x = GradCheck.Random(Cpu, 65, -4f, 4f, 2, 6, 5, 7);
        var dy = GradCheck.Random(Cpu, 66, 2, 3, 5, 7);
        Parity.Check(ilgpu.Backend, [x, dy], (b, t) =>
        {
            var y = Tensor.Empty(b, t[1].Shape);
            b.Glu(t[0], y);
            var dx = Tensor.Full(b, 0.5f, t[0].Shape);
            b.GluBackward(t[0], t[1], dx);
            return [y, dx];
        });
    }

    [Fact]
    public void DropoutMaskIsBitIdenticalToCpu()
    {
        const int n = 4099;
        var ones = Tensor.Full(Cpu, 1f, n);
        var x = GradCheck.Random(Cpu, 67, n);
        foreach (var seed in new[] { 0UL, 5UL, 0xDEADBEEF_12345678UL })
        {
            // Masks compared exactly (ones in, 0 or 1/(1−p) out), values and the accumulating form within float rounding.
            Parity.Check(ilgpu.Backend, [ones, x], (b, t) =>
            {
                var mask = Tensor.Empty(b, n);
                b.Dropout(t[0], mask, 0.3f, seed, accumulate: false);
                var y = Tensor.Empty(b, n);
                b.Dropout(t[1], y, 0.3f, seed, accumulate: false);
                var acc = Tensor.Full(b, 0.5f, n);
                b.Dropout(t[1], acc, 0.3f, seed, accumulate: true);
                return [mask, y, acc];
            }, rtol: 0, atol: 0);
        }
    }
}
