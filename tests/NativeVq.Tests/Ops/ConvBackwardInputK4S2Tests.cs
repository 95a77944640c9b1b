using NativeVq.Cpu;

namespace NativeVq.Tests.Ops;

/// <summary>
/// The one-pass k4 s2 p1 input gradient (src/NativeVq.Runtime/Cpu/ConvBackwardInputK4S2.cs): bit for bit against the
/// per-phase implicit GEMM where that applies (same k order per phase), and against col2im and a float64 direct sum
/// within a bound derived from float32 rounding everywhere (a different summation order than col2im's).
/// </summary>
public sealed class ConvBackwardInputK4S2Tests
{
    [Theory]
    // n, cin, h, w, cout (k4 s2 p1, dx h×w, dy h/2 × w/2)
    [InlineData(3, 16, 16, 16, 24)]   // the VAE's 16x16 ← 8x8 stage shape (smaller batch, Cout not a multiple of 8)
    [InlineData(2, 8, 32, 32, 8)]     // 16x16 dy
    [InlineData(2, 16, 16, 16, 80)]   // K = 320: two K blocks added in order
    [InlineData(2, 12, 16, 16, 8)]    // Cin not a multiple of 8: padded rows never written
    [InlineData(1, 24, 8, 16, 40)]    // non-square, batch 1
    public void MatchesPhaseGemmBitForBit(int n, int cin, int h, int w, int cout)
    {
        var (g, dy, wt, start) = Setup(n, cin, h, w, cout);
        Assert.True(CpuConvBackwardInputK4S2.Supports(g) || !System.Runtime.Intrinsics.X86.Avx512F.IsSupported);
        if (!CpuConvBackwardInputK4S2.Supports(g)) return;
        var fast = (float[])start.Clone();
        var phases = (float[])start.Clone();
        CpuConvBackwardInputK4S2.Run(dy, wt, fast, g);
        Assert.True(CpuConvBackwardInputGemm.TryRunPhases(dy, wt, phases, g));
        Assert.Equal(phases, fast);
    }

    /// <summary>
    /// dy is read in place with masks, except in the batch's first and last panels: the bits of packing every panel, −0
    /// and the padding's +0 included, in both the accumulating and the overwriting form, for both tile variants.
    /// </summary>
    [Theory]
    [InlineData(64, 32, 8, 8, 64)]    // the VAE's 8x8 ← 4x4 stage: panels span two images
    [InlineData(64, 16, 16, 16, 32)]  // the VAE's 16x16 ← 8x8 stage
    [InlineData(3, 20, 8, 8, 20)]     // odd batch on 4x4 maps: a half-empty last panel
    [InlineData(2, 16, 16, 16, 80)]   // two K blocks
    [InlineData(2, 9, 8, 32, 3)]      // dy 4x16
    [InlineData(1, 24, 8, 16, 40)]    // batch 1: every panel at an edge of the array
    [InlineData(64, 1, 32, 32, 16)]   // Cin = 1: the four-phase-row variant
    [InlineData(3, 3, 16, 16, 5)]     // Cin = 3, odd batch on 8x8 dy
    public void InPlaceReadsMatchPackedPanelsBitForBit(int n, int cin, int h, int w, int cout)
    {
        var (g, dy, wt, start) = Setup(n, cin, h, w, cout);
        if (!CpuConvBackwardInputK4S2.Supports(g)) return;
        for (int i = 0; i < dy.Length; i += 11) dy[i] = -0f;
        foreach (bool overwrite in new[] { false, true })
        {
            var inPlace = (float[])start.Clone();
            var packed = (float[])start.Clone();
            CpuConvBackwardInputK4S2.Run(dy, wt, inPlace, g, overwrite, packAll: false);
            CpuConvBackwardInputK4S2.Run(dy, wt, packed, g, overwrite, packAll: true);
            Support.Bits.AssertSame(packed, inPlace);
        }
    }

    [Theory]
    [InlineData(64, 32, 8, 8, 64)]    // the VAE's 8x8 ← 4x4 stage, batch 64: panels span two images
    [InlineData(64, 16, 16, 16, 32)]  // the VAE's 16x16 ← 8x8 stage
    [InlineData(64, 1, 32, 32, 16)]   // the VAE's image layer: one input channel (the 4-phase-row variant)
    [InlineData(4, 128, 8, 8, 256)]   // the GAN's 8x8 ← 4x4 stage: K = 1024, four K blocks
    [InlineData(4, 64, 16, 16, 128)]  // the GAN's 16x16 ← 8x8 stage
    [InlineData(4, 1, 32, 32, 64)]    // the GAN's image layer (Cout > 32 with Cin < 8: stays on col2im)
    [InlineData(1, 32, 8, 8, 64)]     // batch 1 on a 4x4 map: one half-empty panel
    [InlineData(3, 20, 8, 8, 20)]     // odd batch on 4x4 maps, Cin and Cout not multiples of 8
    [InlineData(2, 3, 16, 16, 5)]     // Cin = 3
    [InlineData(2, 7, 16, 8, 9)]      // non-square (dy 8x4), Cin = 7
    [InlineData(2, 9, 8, 32, 3)]      // non-square (dy 4x16), Cin = 9: one full and one 1-row block
    public void MatchesCol2ImAndFloat64(int n, int cin, int h, int w, int cout)
    {
        var (g, dy, wt, start) = Setup(n, cin, h, w, cout);
        var fast = (float[])start.Clone();
        var col2im = (float[])start.Clone();
        CpuConv.BackwardInput(dy, wt, fast, g);
        CpuConv.BackwardInputIm2Col(dy, wt, col2im, g);
        for (int i = 0; i < fast.Length; i++)
        {
            // Each path sums start + K = 16·Cout products in float32: |error| ≤ (K + 1)·2⁻²⁴·(|start| + Σ|w·dy|) each.
            var (want, magnitude) = Direct(dy, wt, g, i, start[i]);
            double bound = (16.0 * cout + 1) * Math.Pow(2, -24) * magnitude;
            Assert.True(Math.Abs(fast[i] - col2im[i]) <= 2 * bound, $"element {i}: {fast[i]} vs col2im {col2im[i]}");
            Assert.True(Math.Abs(fast[i] - want) <= bound, $"element {i}: {fast[i]} vs float64 {want}");
        }
    }

    [Fact]
    public void PaddingLanesNeverReadNeighbours()
    {
        // An infinity in one dy element may reach only the dx pixels its taps cover; a lane that read it through the
        // padding (a neighbouring row, image or channel) would turn 0·inf into NaN or spread inf elsewhere.
        var (g, dy, wt, _) = Setup(2, 8, 8, 8, 8);
        int o = 3, oi = 0, oj = 3, img = 1;
        dy[((img * g.Cout + o) * g.Hout + oi) * g.Wout + oj] = float.PositiveInfinity;
        var dx = new float[g.InputSize];
        CpuConv.BackwardInput(dy, wt, dx, g);
        for (int i = 0; i < dx.Length; i++)
        {
            int iw = i % g.W, ih = i / g.W % g.H, n = i / (g.W * g.H * g.Cin);
            bool reached = n == img && ih >= 2 * oi - 1 && ih <= 2 * oi + 2 && iw >= 2 * oj - 1 && iw <= 2 * oj + 2;
            if (!reached) Assert.True(float.IsFinite(dx[i]), $"dx[{i}] = {dx[i]}");
            else Assert.False(float.IsFinite(dx[i]), $"dx[{i}] = {dx[i]} should carry the infinity");
        }
    }

    [Theory]
    [InlineData(1, 16, 32)]    // VAE: 32x32 image ← 16x16 (the decoder's last transposed conv)
    [InlineData(16, 32, 16)]   // VAE: 16x16 ← 8x8
    [InlineData(32, 64, 8)]    // VAE: 8x8 ← 4x4
    [InlineData(64, 128, 16)]  // GAN: 16x16 ← 8x8
    [InlineData(128, 256, 8)]  // GAN: 8x8 ← 4x4
    public void VaeAndGanStagesTakeTheKernel(int cin, int cout, int side)
    {
        var g = ConvGeom.Create(64, cin, side, side, cout, 4, 2, 1);
        Assert.True(CpuConvBackwardInputK4S2.Supports(g) || !System.Runtime.Intrinsics.X86.Avx512F.IsSupported);
    }

    [Theory]
    [InlineData(2, 1, 32, 32, 64, 4, 2, 1)] // one input channel, Cout > 32: col2im measured faster
    [InlineData(2, 8, 16, 16, 8, 3, 2, 1)]  // k3: not this kernel's shape
    [InlineData(2, 8, 16, 16, 8, 4, 1, 1)]  // stride 1
    [InlineData(2, 8, 16, 16, 8, 4, 2, 0)]  // no padding: H ≠ 2·Hout
    [InlineData(2, 8, 15, 15, 8, 4, 2, 1)]  // odd map
    [InlineData(2, 8, 4, 4, 8, 4, 2, 1)]    // 2x2 dy: fewer than 16 superpixels per image
    public void OtherShapesAreNotTaken(int n, int cin, int h, int w, int cout, int k, int stride, int pad)
        => Assert.False(CpuConvBackwardInputK4S2.Supports(ConvGeom.Create(n, cin, h, w, cout, k, stride, pad)));

    private static (ConvGeom G, float[] Dy, float[] W, float[] Start) Setup(int n, int cin, int h, int w, int cout)
    {
        var g = ConvGeom.Create(n, cin, h, w, cout, 4, 2, 1);
        var rng = new Random(n * 977 + cin * 31 + cout);
        float[] R(int len, float scale) => Enumerable.Range(0, len).Select(_ => (rng.NextSingle() * 2 - 1) * scale).ToArray();
        return (g, R(g.OutputSize, 1f), R(g.WeightSize, 1f), R(g.InputSize, 1f)); // backward accumulates onto start
    }

    /// <summary>
    /// start + Σ_(o,u,v) dy[n,o,oi,oj]·w[o,c,u,v] (ih = 2·oi − 1 + u) in float64, and the magnitude |start| + Σ|terms|
    /// the rounding bound scales with.
    /// </summary>
    private static (double Value, double Magnitude) Direct(float[] dy, float[] w, in ConvGeom g, int index, float start)
    {
        int iw = index % g.W, t = index / g.W, ih = t % g.H;
        t /= g.H;
        int c = t % g.Cin, n = t / g.Cin;
        double acc = start, mag = Math.Abs(start);
        for (int o = 0; o < g.Cout; o++)
            for (int u = 0; u < 4; u++)
            {
                int a = ih + 1 - u;
                if (a < 0 || a % 2 != 0 || a / 2 >= g.Hout) continue;
                for (int v = 0; v < 4; v++)
                {
                    int b = iw + 1 - v;
                    if (b < 0 || b % 2 != 0 || b / 2 >= g.Wout) continue;
                    double term = (double)dy[((n * g.Cout + o) * g.Hout + a / 2) * g.Wout + b / 2] * w[((o * g.Cin + c) * 4 + u) * 4 + v];
                    acc += term;
                    mag += Math.Abs(term);
                }
            }
        return (acc, mag);
    }
}
