using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The implicit-GEMM conv kernels (forward, input gradient, weight gradient) on the CPU accelerator against cpu, with small tiles so
/// partial tiles occur in every dimension; y is poisoned with NaN (forward overwrites), dx and dw start non-zero (they accumulate).
/// </summary>
[Collection("ilgpu")]
public sealed class TiledConvParityTests(IlgpuFixture ilgpu)
{
    public static IEnumerable<object[]> Geometries()
    {
        yield return [ConvGeom.Create(2, 3, 7, 6, 5, 3, 1, 1), 4, 4, 4];
        yield return [ConvGeom.Create(1, 2, 9, 9, 7, 4, 2, 1), 2, 3, 3];
        yield return [ConvGeom.Create(2, 5, 5, 5, 3, 1, 1, 0), 4, 4, 4];
        yield return [ConvGeom.Create(1, 4, 6, 7, 9, 2, 2, 3, 2, 1, 0, 2, 1), 4, 2, 4];
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void ForwardAndGradientsMatchCpu(ConvGeom g, int tx, int ty, int bk)
    {
        var tile = new TiledGemmKernels.Tile(tx, ty, bk);
        var cpu = CpuBackend.Instance;
        var x = GradCheck.Random(cpu, 1, g.N, g.Cin, g.H, g.W);
        var w = GradCheck.Random(cpu, 2, g.Cout, g.Cin, g.KH, g.KW);
        var dy = GradCheck.Random(cpu, 3, g.N, g.Cout, g.Hout, g.Wout);
        var bias = GradCheck.Random(cpu, 7, g.Cout);
        Parity.Check(ilgpu.Backend, [x, w, dy, bias], (be, t) =>
        {
            var y = Tensor.Full(be, float.NaN, g.N, g.Cout, g.Hout, g.Wout);
            var yb = Tensor.Full(be, float.NaN, g.N, g.Cout, g.Hout, g.Wout);
            var dw = Tensor.Full(be, 0.5f, g.Cout, g.Cin, g.KH, g.KW);
            var dx = Tensor.Full(be, 0.25f, g.N, g.Cin, g.H, g.W);
            if (be is IlgpuBackend ib)
            {
                Assert.True(ib.ConvForwardTiled(t[0], t[1], null, y, g, tile));
                Assert.True(ib.ConvForwardTiled(t[0], t[1], t[3], yb, g, tile)); // the bias in the epilogue
                Assert.True(ib.ConvBackwardInputTiled(t[2], t[1], dx, g, tile));
                // Twice: once split as on a GPU (pieces of the reduction summed in order), once with 3 pieces.
                Assert.True(ib.ConvBackwardWeightTiled(t[0], t[2], dw, g, tile));
                Assert.True(ib.ConvBackwardWeightTiled(t[0], t[2], dw, g, tile, splits: 3));
            }
            else
            {
                be.Conv2dForward(t[0], t[1], null, y, g);
                be.Conv2dForward(t[0], t[1], t[3], yb, g);
                be.Conv2dBackwardInput(t[2], t[1], dx, g);
                be.Conv2dBackwardWeight(t[0], t[2], dw, g);
                be.Conv2dBackwardWeight(t[0], t[2], dw, g);
            }
            return [y, yb, dx, dw];
        });
    }

    [Fact]
    public void BackendConvUsesTheTiledKernelsWhenAsked()
    {
        // What cuda does: Backend.Conv2dForward (bias in the tiled kernel's epilogue) / BackwardWeight / BackwardInput through the implicit GEMM.
        var g = ConvGeom.Create(2, 3, 5, 5, 4, 3, 1, 1);
        var cpu = CpuBackend.Instance;
        var x = GradCheck.Random(cpu, 4, 2, 3, 5, 5);
        var w = GradCheck.Random(cpu, 5, 4, 3, 3, 3);
        var b = GradCheck.Random(cpu, 6, 4);
        ilgpu.Backend.UseTiledGemm = true;
        try
        {
            Parity.Check(ilgpu.Backend, [x, w, b], (be, t) =>
            {
                var y = Tensor.Full(be, float.NaN, 2, 4, 5, 5);
                be.Conv2dForward(t[0], t[1], t[2], y, g);
                var dw = Tensor.Zeros(be, 4, 3, 3, 3);
                be.Conv2dBackwardWeight(t[0], y, dw, g);
                var dx = Tensor.Full(be, 0.5f, 2, 3, 5, 5);
                be.Conv2dBackwardInput(y, t[1], dx, g);
                return [y, dw, dx];
            });
        }
        finally { ilgpu.Backend.UseTiledGemm = false; }
    }
}
