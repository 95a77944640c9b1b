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
    [InlineData(2, 3, 64, 64, 8, 4, 4, 2, 1, 1, 1, 1)]    // stride 2, 32-wide output rows: two loads and a permute
    [InlineData(4, 1, 32, 32, 8, 4, 4, 2, 1, 1, 1, 1)]    // the first conv: one input channel, 16x16 out
    [InlineData(2, 12, 8, 8, 5, 1, 1, 1, 0, 0, 0, 0)]     // pointwise, Cout not a multiple of the tile height
    [InlineData(3, 7, 8, 8, 9, 2, 3, 1, 1, 0, 1, 1)]      // PixelSNAIL's down-shifted 2x3 stem
    [InlineData(1, 3, 4, 8, 4, 1, 2, 1, 0, 0, 1, 0)]      // 1x2 down-right stem, 32 pixels: one panel
    [InlineData(2, 300, 8, 4, 3, 1, 1, 1, 0, 0, 0, 0)]    // K = 300 > KC, runs at both ends of x
    [InlineData(5, 32, 8, 8, 64, 4, 4, 2, 1, 1, 1, 1)]    // 4x4 out (16 px): 16-wide panels on the 16x16 kernel, K = 512
    [InlineData(3, 9, 8, 8, 20, 4, 4, 2, 1, 1, 1, 1)]     // 4x4 out, Cout not a multiple of 16 (edge rows)
    [InlineData(2, 5, 12, 12, 7, 3, 3, 1, 1, 1, 1, 1)]    // 12x12 out (144 px): a multiple of 16, not of 32
    public void MatchesIm2ColPathExactly(int n, int cin, int h, int w, int cout, int kh, int kw, int stride, int pt, int pb, int pl, int pr)
    {
        var g = ConvGeom.Create(n, cin, h, w, cout, kh, kw, stride, stride, pt, pb, pl, pr);
        Assert.True(CpuConvGemm.SupportsForward(g) || !System.Runtime.Intrinsics.X86.Avx512F.IsSupported);
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
            double want = ForwardDirect(x, wt, g, i);
            Assert.True(Math.Abs(fast[i] - want) <= 1e-4 * (1 + Math.Abs(want)), $"element {i}: {fast[i]} vs {want}");
        }
    }

    /// <summary>Output element <paramref name="index"/> of conv(x, w) summed in float64 (the reference every fast forward is held to).</summary>
    internal static double ForwardDirect(float[] x, float[] w, in ConvGeom g, int index)
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

/// <summary>The phase-decomposed input gradient (src/NativeVq.Runtime/Cpu/ConvBackwardInputGemm.cs) against col2im and float64.</summary>
public sealed class ConvBackwardInputGemmTests
{
    [Theory]
    // n, cin, h, w, cout, kh, kw, stride, padTop, padBottom, padLeft, padRight
    [InlineData(3, 16, 16, 16, 24, 4, 4, 2, 1, 1, 1, 1)]  // the VQ-VAE's down/up-sampling pair
    [InlineData(2, 8, 32, 32, 8, 4, 4, 2, 1, 1, 1, 1)]    // phases of 16x16
    [InlineData(5, 64, 8, 8, 32, 3, 3, 1, 1, 1, 1, 1)]    // stride 1: one phase straight into dx
    [InlineData(3, 9, 8, 8, 7, 2, 3, 1, 1, 0, 1, 1)]      // PixelSNAIL's down-shifted 2x3 stem
    [InlineData(2, 8, 4, 8, 4, 1, 1, 1, 0, 0, 0, 0)]      // pointwise
    [InlineData(2, 8, 16, 16, 6, 3, 3, 2, 1, 1, 1, 1)]    // odd kernel, stride 2: phases with 2 and 1 taps
    public void MatchesCol2ImPath(int n, int cin, int h, int w, int cout, int kh, int kw, int stride, int pt, int pb, int pl, int pr)
    {
        var g = ConvGeom.Create(n, cin, h, w, cout, kh, kw, stride, stride, pt, pb, pl, pr);
        var rng = new Random(n * 977 + cin);
        var dy = Enumerable.Range(0, g.OutputSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var wt = Enumerable.Range(0, g.WeightSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var start = Enumerable.Range(0, g.InputSize).Select(_ => rng.NextSingle()).ToArray(); // backward accumulates
        var fast = (float[])start.Clone();
        var col2im = (float[])start.Clone();
        Assert.True(CpuConvBackwardInputGemm.TryRun(dy, wt, fast, g) || !System.Runtime.Intrinsics.X86.Avx2.IsSupported);
        CpuConv.BackwardInputIm2Col(dy, wt, col2im, g);
        for (int i = 0; i < fast.Length; i++)
        {
            double want = start[i] + Direct(dy, wt, g, i);
            Assert.True(Math.Abs(fast[i] - want) <= 1e-4 * (1 + Math.Abs(want)), $"element {i}: {fast[i]} vs {want}");
            Assert.True(Math.Abs(fast[i] - col2im[i]) <= 1e-4 * (1 + Math.Abs(want)), $"element {i}: {fast[i]} vs col2im {col2im[i]}");
        }
    }

    [Fact]
    public void FewInputChannelsFallBackToCol2Im()
    {
        // One input channel, 3x3 stride 1 (the k4 s2 p1 image layer has its own kernel: ConvBackwardInputK4S2Tests).
        var g = ConvGeom.Create(2, 1, 32, 32, 64, 3, 1, 1);
        Assert.False(CpuConvBackwardInputGemm.TryRun(new float[g.OutputSize], new float[g.WeightSize], new float[g.InputSize], g));
    }

    /// <summary>Σ over (o, u, v) with ih = oi·s − pt + u, iw = oj·s − pl + v of dy[n,o,oi,oj]·w[o,c,u,v], in float64.</summary>
    private static double Direct(float[] dy, float[] w, in ConvGeom g, int index)
    {
        int iw = index % g.W, t = index / g.W, ih = t % g.H;
        t /= g.H;
        int c = t % g.Cin, n = t / g.Cin;
        double acc = 0;
        for (int o = 0; o < g.Cout; o++)
            for (int u = 0; u < g.KH; u++)
                for (int v = 0; v < g.KW; v++)
                {
                    int ti = ih + g.PadTop - u, tj = iw + g.PadLeft - v;
                    if (ti < 0 || tj < 0 || ti % g.StrideH != 0 || tj % g.StrideW != 0) continue;
                    int oi = ti / g.StrideH, oj = tj / g.StrideW;
                    if (oi >= g.Hout || oj >= g.Wout) continue;
                    acc += (double)dy[((n * g.Cout + o) * g.Hout + oi) * g.Wout + oj] * w[((o * g.Cin + c) * g.KH + u) * g.KW + v];
                }
        return acc;
    }
}

/// <summary>
/// The implicit-GEMM weight gradients against float64 and im2col: strided shapes take the transposed form
/// (src/NativeVq.Runtime/Cpu/ConvBackwardWeightGemm.cs), stride-1 shapes the tap-panel form (ConvBackwardWeightTapsGemm.cs).
/// </summary>
public sealed class ConvBackwardWeightGemmTests
{
    [Theory]
    // n, cin, h, w, cout, kh, kw, stride, padTop, padBottom, padLeft, padRight
    [InlineData(9, 16, 16, 16, 8, 4, 4, 2, 1, 1, 1, 1)]
    [InlineData(7, 12, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1)]
    [InlineData(5, 6, 8, 8, 4, 2, 5, 1, 1, 0, 2, 2)]
    [InlineData(3, 141, 8, 8, 11, 1, 1, 1, 0, 0, 0, 0)]  // CKK = 141: a partial last tap panel; Cout 11: edge rows
    [InlineData(2, 1, 32, 32, 64, 4, 4, 2, 1, 1, 1, 1)]   // the first conv (the GAN's: Cout 64): CKK = 16, one tap panel: images split into parts
    [InlineData(9, 1, 32, 32, 16, 4, 4, 2, 1, 1, 1, 1)]   // the same with uneven parts (9 images) and Cout 16
    [InlineData(37, 32, 8, 8, 64, 4, 4, 2, 1, 1, 1, 1)]   // 4x4 maps: 16-pixel panels, K blocks spanning 16 images, last block 80 pixels
    [InlineData(11, 16, 16, 16, 32, 4, 4, 2, 1, 1, 1, 1)] // 8x8 maps: K blocks of 4 images
    [InlineData(2, 40, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1)]    // CKK = 360: several tap panels split between threads
    [InlineData(2, 8, 64, 64, 8, 4, 4, 2, 1, 1, 1, 1)]    // stride 2, 32-wide output rows: the permuting pack
    [InlineData(1, 16, 16, 16, 32, 4, 4, 2, 1, 1, 1, 1)]  // batch 1
    [InlineData(3, 8, 16, 16, 40, 4, 4, 2, 1, 1, 1, 1)]   // Cout 40: a Cout panel of 8 real columns
    [InlineData(2, 64, 16, 16, 128, 4, 4, 2, 1, 1, 1, 1)] // the GAN's 64→128 stage (4 Cout panels)
    [InlineData(2, 128, 8, 8, 256, 4, 4, 2, 1, 1, 1, 1)]  // the GAN's 128→256 stage: 4x4 maps, column blocks of 128 taps
    [InlineData(3, 5, 17, 17, 7, 4, 4, 2, 1, 1, 1, 1)]    // odd input (17 = not 2·Wout): the per-row permute, not the 4-tap form
    [InlineData(2, 6, 9, 9, 24, 4, 4, 2, 1, 1, 1, 1)]     // odd input, 4-wide output rows
    [InlineData(2, 3, 32, 33, 10, 4, 4, 2, 1, 1, 1, 1)]   // 16-wide output rows from a 33-wide input
    [InlineData(3, 4, 16, 16, 8, 4, 4, 2, 0, 2, 1, 1)]    // k4 s2, no top padding: the 4-tap form with other rows
    [InlineData(2, 5, 8, 8, 9, 3, 3, 1, 1, 1, 1, 1)]      // stride 1, 8-wide rows: plain masked loads
    [InlineData(2, 3, 8, 12, 4, 3, 3, 1, 1, 1, 1, 1)]     // stride 1, 12-wide rows: the scalar row copy
    public void MatchesDirectSum(int n, int cin, int h, int w, int cout, int kh, int kw, int stride, int pt, int pb, int pl, int pr)
    {
        var g = ConvGeom.Create(n, cin, h, w, cout, kh, kw, stride, stride, pt, pb, pl, pr);
        var rng = new Random(n * 31 + cin);
        var x = Enumerable.Range(0, g.InputSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var dy = Enumerable.Range(0, g.OutputSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var dw = Enumerable.Repeat(0.5f, g.WeightSize).ToArray(); // accumulates
        var im2col = (float[])dw.Clone();
        CpuConv.BackwardWeight(x, dy, dw, g);
        CpuConv.BackwardWeightIm2Col(x, dy, im2col, g);
        for (int i = 0; i < dw.Length; i++)
        {
            int v = i % kw, t = i / kw, u = t % kh;
            t /= kh;
            int c = t % cin, o = t / cin;
            double want = 0.5;
            for (int b = 0; b < n; b++)
                for (int oi = 0; oi < g.Hout; oi++)
                    for (int oj = 0; oj < g.Wout; oj++)
                    {
                        int ih = oi * stride - pt + u, iw = oj * stride - pl + v;
                        if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                        want += (double)dy[((b * cout + o) * g.Hout + oi) * g.Wout + oj] * x[((b * cin + c) * h + ih) * w + iw];
                    }
            Assert.True(Math.Abs(dw[i] - want) <= 1e-4 * (1 + Math.Abs(want)), $"dw[{i}]: {dw[i]} vs {want}");
            Assert.True(Math.Abs(dw[i] - im2col[i]) <= 1e-4 * (1 + Math.Abs(want)), $"dw[{i}]: {dw[i]} vs im2col {im2col[i]}");
        }
    }

    /// <summary>
    /// Each microkernel (the default is chosen by the hardware and Cout) on every kind of shape: narrow and wide Cout,
    /// a partial last tap panel, few tap panels (image parts), 4x4 maps, stride 1.
    /// </summary>
    [Theory]
    [InlineData("Wide8x32")]
    [InlineData("Narrow16x16")]
    [InlineData("Avx2x6x16")]
    public void EveryTileMatchesIm2Col(string name)
    {
        var tile = Enum.Parse<CpuConvBackwardWeightGemm.Tile>(name);
        bool needs512 = tile != CpuConvBackwardWeightGemm.Tile.Avx2x6x16;
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported || needs512 && !System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated) return;
        var shapes = new[]
        {
            ConvGeom.Create(5, 16, 16, 16, 32, 4, 4, 2, 2, 1, 1, 1, 1),
            ConvGeom.Create(3, 1, 32, 32, 16, 4, 4, 2, 2, 1, 1, 1, 1),
            ConvGeom.Create(7, 32, 8, 8, 64, 4, 4, 2, 2, 1, 1, 1, 1),
            ConvGeom.Create(2, 7, 8, 8, 11, 3, 3, 1, 1, 1, 1, 1, 1),   // CKK 63: partial tap panel for every tile height
            ConvGeom.Create(3, 5, 17, 17, 40, 4, 4, 2, 2, 1, 1, 1, 1), // Cout 40 on every tile width
        };
        foreach (var g in shapes)
        {
            var rng = new Random(g.Cin * 7 + g.Cout);
            var x = Enumerable.Range(0, g.InputSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
            var dy = Enumerable.Range(0, g.OutputSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
            var dw = Enumerable.Repeat(-0.25f, g.WeightSize).ToArray();
            var want = (float[])dw.Clone();
            CpuConvBackwardWeightGemm.Run(x, dy, dw, g, tile);
            CpuConv.BackwardWeightIm2Col(x, dy, want, g);
            // Both sum K = N·HWo products in float32 in different orders: a bound of the size of that rounding.
            for (int i = 0; i < dw.Length; i++)
                Assert.True(Math.Abs(dw[i] - want[i]) <= 1e-4 * (1 + Math.Abs(want[i])), $"{tile} {g} dw[{i}]: {dw[i]} vs {want[i]}");
        }
    }

    [Theory]
    [InlineData(1, 16, 32)]  // enc1 / dec3: one tap panel
    [InlineData(16, 32, 16)] // enc2 / dec2: 8x8 maps
    [InlineData(32, 64, 8)]  // enc3 / dec1: 4x4 maps, 16-pixel panels
    public void VaeStagesTakeTheImplicitGemm(int cin, int cout, int side)
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return; // im2col everywhere: nothing to check
        Assert.True(CpuConvBackwardWeightGemm.Supports(ConvGeom.Create(64, cin, side, side, cout, 4, 2, 1)));
    }

    [Theory]
    [InlineData(13, 1, 32, 16)]  // one tap panel: image parts with partial sums
    [InlineData(64, 16, 16, 32)] // the VAE's 16→32 stage: tap ranges only
    public void RepeatedRunsGiveTheSameBits(int n, int cin, int side, int cout)
    {
        // Parts and tap ranges are fixed per shape, so two runs sum every weight in the same order.
        var g = ConvGeom.Create(n, cin, side, side, cout, 4, 2, 1);
        var rng = new Random(5);
        var x = Enumerable.Range(0, g.InputSize).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        var dy = Enumerable.Range(0, g.OutputSize).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        var a = new float[g.WeightSize];
        var b = new float[g.WeightSize];
        CpuConv.BackwardWeight(x, dy, a, g);
        CpuConv.BackwardWeight(x, dy, b, g);
        Assert.Equal(a, b);
    }
}
