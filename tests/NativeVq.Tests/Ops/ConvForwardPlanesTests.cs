using System.Runtime.Intrinsics.X86;
using NativeVq.Cpu;

namespace NativeVq.Tests.Ops;

/// <summary>
/// The tap-plane conv forward (src/NativeVq.Runtime/Cpu/ConvForwardPlanes.cs), which CpuConv.Forward runs for strided
/// convs at small maps: bit-identical to the im2col + GEMM path and to the gathered implicit GEMM (same KC blocks,
/// k order and FMA chain; the epilogue's operations in the same order), and within float rounding of a float64 sum.
/// </summary>
public sealed class ConvForwardPlanesTests
{
    [Theory]
    // n, cin, h, w, cout, kh, kw, strideH, strideW, padTop, padBottom, padLeft, padRight
    [InlineData(64, 1, 32, 32, 16, 4, 4, 2, 2, 1, 1, 1, 1)]  // VAE enc1: Cin 1, K 16, 16x16 out
    [InlineData(64, 16, 16, 16, 32, 4, 4, 2, 2, 1, 1, 1, 1)] // VAE enc2: 8x8 out, K 256
    [InlineData(64, 32, 8, 8, 64, 4, 4, 2, 2, 1, 1, 1, 1)]   // VAE enc3: 4x4 out, tiles span two images, K 512
    [InlineData(6, 64, 16, 16, 128, 4, 4, 2, 2, 1, 1, 1, 1)] // GAN down1 (batch 6): K 1024, four K blocks
    [InlineData(4, 128, 8, 8, 256, 4, 4, 2, 2, 1, 1, 1, 1)]  // GAN down2 (batch 4): 4x4 out, K 2048
    [InlineData(3, 1, 32, 32, 64, 4, 4, 2, 2, 1, 1, 1, 1)]   // GAN down0 (batch 3)
    [InlineData(1, 16, 16, 16, 32, 4, 4, 2, 2, 1, 1, 1, 1)]  // batch 1: the image's two panels split between blocks
    [InlineData(2, 1, 32, 32, 16, 4, 4, 2, 2, 1, 1, 1, 1)]   // batch 2 < 2·threads: each image's 8 panels in parts
    [InlineData(7, 32, 8, 8, 20, 4, 4, 2, 2, 1, 1, 1, 1)]    // odd batch at 4x4: a lone 16-pixel half; Cout 20: edge rows
    [InlineData(5, 3, 16, 16, 5, 4, 4, 2, 2, 1, 1, 1, 1)]    // Cout 5 < one tile
    [InlineData(3, 40, 16, 16, 11, 3, 3, 2, 2, 1, 1, 1, 1)]  // 3x3 s2: K 360, a channel's taps straddle the K block edge
    [InlineData(2, 6, 15, 15, 9, 3, 3, 2, 2, 1, 1, 1, 1)]    // odd input 15x15 → 8x8, padding past the right and bottom edge
    [InlineData(2, 4, 16, 8, 8, 4, 4, 2, 2, 1, 1, 1, 1)]     // non-square map: 8x4 out
    [InlineData(2, 5, 9, 31, 7, 2, 5, 2, 2, 0, 1, 2, 2)]     // 5x16 out (odd rows), asymmetric padding, 2x5 kernel
    [InlineData(3, 4, 8, 32, 8, 3, 3, 1, 2, 1, 1, 1, 1)]     // stride (1, 2): 8x16 out
    [InlineData(3, 4, 16, 16, 8, 3, 3, 3, 3, 1, 1, 1, 1)]    // stride 3: 6x6 = 36 px — not a multiple of 16, falls back
    [InlineData(2, 8, 32, 32, 8, 1, 1, 2, 2, 0, 0, 0, 0)]    // 1x1 stride 2 (a ResNet shortcut)
    [InlineData(2, 3, 34, 34, 8, 4, 4, 2, 2, 0, 0, 0, 0)]    // rows of 34 floats: planes picked through the row buffer
    [InlineData(2, 5, 24, 24, 8, 3, 3, 3, 3, 0, 0, 0, 0)]    // stride 3, 8x8 out: the scalar pick
    public void MatchesIm2ColAndGatheredPathsExactly(int n, int cin, int h, int w, int cout, int kh, int kw, int sh, int sw, int pt, int pb, int pl, int pr)
    {
        var g = ConvGeom.Create(n, cin, h, w, cout, kh, kw, sh, sw, pt, pb, pl, pr);
        var rng = new Random(n * 1000 + cin * 7 + cout);
        var x = Enumerable.Range(0, g.InputSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var wt = Enumerable.Range(0, g.WeightSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var bias = Enumerable.Range(0, cout).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        bool planes = g.Hout * g.Wout % 16 == 0 && g.Hout * g.Wout <= 256;
        if (Avx512F.IsSupported) Assert.Equal(planes, CpuConvPlanes.Supports(g));

        foreach (var (b, ep) in new (float[]?, ConvEpilogue)[]
                 {
                     (null, default), (bias, default), (bias, ConvEpilogue.Relu), (null, ConvEpilogue.LeakyRelu(0.2f)),
                     (bias, ConvEpilogue.LeakyRelu(0.2f)), (bias, new ConvEpilogue(ConvActivation.Elu)),
                 })
        {
            var fast = Enumerable.Repeat(float.NaN, g.OutputSize).ToArray(); // every element must be written
            var im2col = new float[g.OutputSize];
            CpuConv.Forward(x, wt, fast, g, b, ep);
            CpuConv.ForwardIm2Col(x, wt, im2col, g, b, ep);
            Assert.Equal(im2col, fast);
            if (CpuConvGemm.SupportsForward(g))
            {
                var gathered = new float[g.OutputSize];
                CpuConvGemm.Forward(x, wt, gathered, g, bias: b, epilogue: ep);
                Assert.Equal(gathered, fast);
            }
        }

        var plain = new float[g.OutputSize];
        CpuConv.Forward(x, wt, plain, g);
        for (int i = 0; i < plain.Length; i += 5)
        {
            double want = ConvImplicitGemmTests.ForwardDirect(x, wt, g, i);
            Assert.True(Math.Abs(plain[i] - want) <= 1e-4 * (1 + Math.Abs(want)), $"element {i}: {plain[i]} vs {want}");
        }
    }

    [Fact]
    public void VaeAndGanShapesTakeTheTapPlanes()
    {
        if (!Avx512F.IsSupported) return; // the gathered form or im2col: covered by ConvImplicitGemmTests
        foreach (var (cin, cout, side) in new[] { (1, 16, 32), (16, 32, 16), (32, 64, 8), (1, 64, 32), (64, 128, 16), (128, 256, 8) })
            Assert.True(CpuConvPlanes.Supports(ConvGeom.Create(64, cin, side, side, cout, 4, 2, 1)), $"{cin}->{cout} at {side}");
        Assert.False(CpuConvPlanes.Supports(ConvGeom.Create(64, 64, 8, 8, 64, 3, 1, 1))); // stride 1 keeps the contiguous packing
        Assert.False(CpuConvPlanes.Supports(ConvGeom.Create(64, 1, 64, 64, 8, 4, 2, 1))); // 32x32 out: over the block width
    }

    [Fact]
    public void RepeatedRunsGiveTheSameBits()
    {
        var g = ConvGeom.Create(9, 32, 8, 8, 64, 4, 2, 1);
        var rng = new Random(3);
        var x = Enumerable.Range(0, g.InputSize).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        var wt = Enumerable.Range(0, g.WeightSize).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        var a = new float[g.OutputSize];
        var b = new float[g.OutputSize];
        CpuConv.Forward(x, wt, a, g);
        CpuConv.Forward(x, wt, b, g);
        Assert.Equal(a, b);
    }
}
