using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The masked conv kernels (<see cref="TiledMaskedConvKernels"/>, which skip masked taps) on the CPU accelerator against
/// cpu's graph path (conv on w ∘ mask — their CPU twin), through F.MaskedConv2d with every gradient: PixelSNAIL's 3x3 and
/// 5x5 causal masks with its padding, a mask with a hole in the middle and a non-binary one, small tiles whose K slices
/// straddle taps (Cin not a multiple of BK), so skipped and computed slices mix.
/// </summary>
[Collection("ilgpu")]
public sealed class TiledMaskedConvParityTests(IlgpuFixture ilgpu)
{
    private static float[] Causal(int k)
    {
        var m = new float[k * k];
        Array.Fill(m, 1f);
        for (int c = k / 2 + 1; c < k; c++) m[(k - 1) * k + c] = 0f;
        return m;
    }

    public static IEnumerable<object[]> Cases()
    {
        yield return [Causal(3), 3, 2, 5, 4, 4, 4, 4];   // res block conv, tile 4×4×4
        yield return [Causal(3), 3, 8, 6, 4, 2, 3, 3];   // K slices straddle taps
        yield return [Causal(5), 5, 3, 4, 3, 4, 2, 4];
        yield return [new float[] { 1, 0, 1, 0, 0, 0, 1, 0.5f, 1 }, 3, 4, 3, 4, 4, 4, 2]; // holes and a non-binary tap
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MaskedConvAndGradientsMatchTheGraphPath(float[] mask, int k, int cin, int cout, int tx, int ty, int bk, int n)
    {
        var cpu = CpuBackend.Instance;
        var x = GradCheck.Random(cpu, 31, n, cin, 6, 7);
        var w = GradCheck.Random(cpu, 32, cout, cin, k, k);
        var bias = GradCheck.Random(cpu, 33, cout);
        var m = Tensor.FromArray(cpu, mask, 1, 1, k, k);
        x.RequiresGrad = w.RequiresGrad = bias.RequiresGrad = true;
        var pad = (k / 2, k / 2, k - 1, 0); // PixelSNAIL's causal padding (left, right, top, bottom)
        var ib = ilgpu.Backend;
        ib.UseTiledGemm = true;
        ib.MaskedConvTile = new TiledGemmKernels.Tile(tx, ty, bk);
        try
        {
            var g = ConvGeom.Create(n, cin, 6, 7, cout, k, k, 1, 1, k - 1, 0, k / 2, k / 2);
            Assert.True(ib.HasMaskedConvKernels(g));
            Assert.False(cpu.HasMaskedConvKernels(g));
            Parity.Check(ib, [x, w, bias, m], (be, t) =>
            {
                var y = F.MaskedConv2d(t[0], t[1], t[3], t[2], 1, pad);
                F.Sum(F.Mul(y, y)).Backward();
                var r = new[] { y, t[0].Grad!, t[1].Grad!, t[2].Grad! };
                foreach (var i in t) i.Grad = null; // the cpu inputs are reused by the ilgpu run's copies
                return r;
            }, rtol: 1e-4, atol: 1e-4);
        }
        finally { ib.UseTiledGemm = false; ib.MaskedConvTile = null; }
    }

    [Fact]
    public void MaskedTapsGetExactlyZeroWeightGradient()
    {
        // The kernel skips masked taps entirely; their gradient must still be written as 0 (not left stale or summed).
        var ib = ilgpu.Backend;
        ib.UseTiledGemm = true;
        ib.MaskedConvTile = new TiledGemmKernels.Tile(4, 4, 4);
        try
        {
            var g = ConvGeom.Create(2, 4, 5, 5, 3, 3, 3, 1, 1, 2, 0, 1, 1);
            var x = GradCheck.Random(ib, 41, 2, 4, 5, 5);
            var dy = GradCheck.Random(ib, 42, 2, 3, 5, 5);
            var mask = Tensor.FromArray(ib, Causal(3), 3, 3);
            var dw = Tensor.Zeros(ib, 3, 4, 3, 3);
            ib.MaskedConv2dBackwardWeight(x, dy, mask, dw, g);
            var d = dw.ToArray();
            for (int i = 0; i < d.Length; i++)
            {
                int tap = i % 9;
                if (tap == 8) Assert.Equal(0f, d[i]); // the causal 3x3 mask drops the last row's right tap
                else Assert.NotEqual(0f, d[i]);
            }
        }
        finally { ib.UseTiledGemm = false; ib.MaskedConvTile = null; }
    }
}
