using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

/// <summary>
/// The implicit-GEMM conv forward (src/NativeVq.Runtime/Cpu/ConvGemm.cs) against the im2col + GEMM path:
/// bit-identical (same KC blocks, microkernel and k order), and both against a float64 direct convolution.
/// </summary>
public sealed class ConvImplicitGemmTests
{
    [Theory]
    // n, cin, h, w, cout, kh, kw, stride, padTop, padBottom, padLeft, padRight
    [InlineData(5, 64, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1)]    // residual 3x3, K = 576 spans three KC blocks
    [InlineData(3, 16, 16, 16, 24, 4, 4, 2, 1, 1, 1, 1)]  // stride-2 down-sampling (gathers)
    [InlineData(4, 1, 32, 32, 8, 4, 4, 2, 1, 1, 1, 1)]    // the first conv: one input channel, 16x16 out
    [InlineData(2, 12, 8, 8, 5, 1, 1, 1, 0, 0, 0, 0)]     // pointwise, Cout not a multiple of the tile height
    [InlineData(3, 7, 8, 8, 9, 2, 3, 1, 1, 0, 1, 1)]      // PixelSNAIL's down-shifted 2x3 stem
    [InlineData(1, 3, 4, 8, 4, 1, 2, 1, 0, 0, 1, 0)]      // 1x2 down-right stem, 32 pixels: one panel
    [InlineData(2, 300, 8, 4, 3, 1, 1, 1, 0, 0, 0, 0)]    // K = 300 > KC, runs at both ends of x
    public void MatchesIm2ColPathExactly(int n, int cin, int h, int w, int cout, int kh, int kw, int stride, int pt, int pb, int pl, int pr)
    {
        var g = ConvGeom.Create(n, cin, h, w, cout, kh, kw, stride, stride, pt, pb, pl, pr);
        Assert.True(CpuConvGemm.Supports(g) || !System.Runtime.Intrinsics.X86.Avx2.IsSupported);
        var rng = new Random(n * 1000 + cin);
        var x = Enumerable.Range(0, g.InputSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var wt = Enumerable.Range(0, g.WeightSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var fast = Enumerable.Repeat(float.NaN, g.OutputSize).ToArray(); // every element must be written
        var im2col = new float[g.OutputSize];
        CpuConv.Forward(x, wt, fast, g);
        CpuConv.ForwardIm2Col(x, wt, im2col, g);
        Assert.Equal(im2col, fast);

        for (int i = 0; i < fast.Length; i += 7)
        {
            double want = Direct(x, wt, g, i);
            Assert.True(Math.Abs(fast[i] - want) <= 1e-4 * (1 + Math.Abs(want)), $"element {i}: {fast[i]} vs {want}");
        }
    }

    private static double Direct(float[] x, float[] w, in ConvGeom g, int index)
    {
        int oj = index % g.Wout, t = index / g.Wout, oi = t % g.Hout;
        t /= g.Hout;
        int o = t % g.Cout, n = t / g.Cout;
        double acc = 0;
        for (int c = 0; c < g.Cin; c++)
            for (int u = 0; u < g.KH; u++)
                for (int v = 0; v < g.KW; v++)
                {
                    int ih = oi * g.StrideH - g.PadTop + u, iw = oj * g.StrideW - g.PadLeft + v;
                    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                    acc += (double)w[((o * g.Cin + c) * g.KH + u) * g.KW + v] * x[((n * g.Cin + c) * g.H + ih) * g.W + iw];
                }
        return acc;
    }
}
