using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The per-phase transposed conv (<see cref="TiledConvTransposeKernels.PhaseGather"/>) on the CPU accelerator against
/// cpu's input gradient: strides 1–3, kernels the stride divides and does not (3x3 s2: phases with 2 and 1 taps),
/// asymmetric padding, an input wider than any output reaches (trailing pixels with no tap), small tiles so partial
/// tiles occur; dx starts non-zero (it accumulates), and the bias variant starts from zeros as conv_transpose2d does.
/// </summary>
[Collection("ilgpu")]
public sealed class TiledConvTransposeParityTests(IlgpuFixture ilgpu)
{
    public static IEnumerable<object[]> Geometries()
    {
        yield return [ConvGeom.Create(2, 3, 9, 8, 5, 4, 2, 1), 4, 4, 4];            // the decoder's 4x4 s2 p1
        yield return [ConvGeom.Create(1, 4, 11, 10, 6, 3, 2, 1), 2, 3, 3];          // 3x3 s2: uneven phases
        yield return [ConvGeom.Create(2, 2, 11, 9, 3, 3, 3, 3, 1, 0, 0, 1, 0), 4, 2, 4]; // s3 × s1, asymmetric pads, trailing rows no tap reaches
        yield return [ConvGeom.Create(1, 3, 6, 7, 4, 3, 1, 1), 4, 4, 4];            // stride 1: one phase
    }

    [Theory]
    [MemberData(nameof(Geometries))]
    public void PhaseGatherMatchesCpuInputGradient(ConvGeom g, int tx, int ty, int bk)
    {
        var tile = new TiledGemmKernels.Tile(tx, ty, bk);
        var cpu = CpuBackend.Instance;
        var w = GradCheck.Random(cpu, 11, g.Cout, g.Cin, g.KH, g.KW);
        var dy = GradCheck.Random(cpu, 12, g.N, g.Cout, g.Hout, g.Wout);
        var bias = GradCheck.Random(cpu, 13, g.Cin);
        Parity.Check(ilgpu.Backend, [dy, w, bias], (be, t) =>
        {
            var dx = Tensor.Full(be, 0.25f, g.N, g.Cin, g.H, g.W);
            var y = Tensor.Zeros(be, g.N, g.Cin, g.H, g.W);
            if (be is IlgpuBackend ib)
            {
                Assert.True(ib.ConvTransposePhaseTiled(t[0], t[1], null, dx, g, tile));
                Assert.True(ib.ConvTransposePhaseTiled(t[0], t[1], t[2], y, g, tile));
            }
            else
            {
                be.Conv2dBackwardInput(t[0], t[1], dx, g);
                be.Conv2dBackwardInput(t[0], t[1], y, g);
                be.AddChannelBias(t[2], y, g.N, g.Cin, g.H * g.W);
            }
            return [dx, y];
        });
    }

    [Fact]
    public void ConvTransposeOpAndStridedInputGradientUseThePhaseKernelWhenAsked()
    {
        // What cuda does: F.ConvTranspose2d's forward (bias in the phase kernel's store) and a strided conv's input gradient per phase.
        var cpu = CpuBackend.Instance;
        var x = GradCheck.Random(cpu, 21, 2, 3, 5, 4);
        var w = GradCheck.Random(cpu, 22, 3, 2, 4, 4);
        var bias = GradCheck.Random(cpu, 23, 2);
        var x2 = GradCheck.Random(cpu, 24, 2, 2, 9, 9);
        x.RequiresGrad = w.RequiresGrad = bias.RequiresGrad = x2.RequiresGrad = true;
        ilgpu.Backend.UseTiledGemm = true;
        try
        {
            Parity.Check(ilgpu.Backend, [x, w, bias, x2], (be, t) =>
            {
                var y = F.ConvTranspose2d(t[0], t[1], t[2], 2, 1);
                var z = F.Conv2d(t[3], t[1], null, 2, 1); // a stride-2 conv: its dx goes per phase
                F.Add(F.Sum(F.Mul(y, y)), F.Sum(F.Mul(z, z))).Backward();
                var r = new[] { y, z, t[0].Grad!, t[1].Grad!, t[2].Grad!, t[3].Grad! };
                foreach (var i in t) i.Grad = null; // the cpu inputs are reused by the ilgpu run's copies
                return r;
            }, rtol: 1e-4, atol: 1e-4);
        }
        finally { ilgpu.Backend.UseTiledGemm = false; }
    }
}
