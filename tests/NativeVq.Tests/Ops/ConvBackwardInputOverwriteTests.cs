using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

/// <summary>
/// The overwriting input gradient dx = convᵀ(dy, w) (Backend.Conv2dBackwardInputInto, the k4 s2 kernel's overwrite
/// form) gives the bits of a zero-fill then the accumulating form, into a buffer full of NaN that it must not read —
/// including signed zeros in dy and w (a −0 must come out +0 as 0 + (−0) did) — and the ops that use it (the transposed
/// conv's forward, a conv input's first gradient) give the bits of the fill + accumulate composition.
/// </summary>
public sealed class ConvBackwardInputOverwriteTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    // n, cin, h, w, cout (k4 s2 p1: dx h×w, dy h/2 × w/2), k, stride, pad
    [InlineData(64, 32, 8, 8, 64, 4, 2, 1)]    // the VAE's 8x8 ← 4x4 stage (conv input gradient and dec1's output)
    [InlineData(64, 16, 16, 16, 32, 4, 2, 1)]  // the VAE's 16x16 ← 8x8 stage
    [InlineData(64, 1, 32, 32, 16, 4, 2, 1)]   // the VAE's image layer (Cin = 1 variant)
    [InlineData(4, 128, 8, 8, 256, 4, 2, 1)]   // the GAN's 8x8 ← 4x4 stage: four K blocks
    [InlineData(4, 64, 16, 16, 128, 4, 2, 1)]  // the GAN's 16x16 ← 8x8 stage
    [InlineData(4, 1, 32, 32, 64, 4, 2, 1)]    // the GAN's image layer: col2im, fill + accumulate
    [InlineData(1, 32, 8, 8, 64, 4, 2, 1)]     // batch 1 on a 4x4 map: one half-empty panel
    [InlineData(3, 20, 8, 8, 20, 4, 2, 1)]     // odd batch, Cin and Cout not multiples of 8
    [InlineData(2, 7, 16, 8, 9, 4, 2, 1)]      // non-square, Cin = 7 (narrow variant)
    [InlineData(2, 9, 8, 32, 3, 4, 2, 1)]      // non-square, a 1-row channel block
    [InlineData(2, 8, 16, 16, 8, 3, 1, 1)]     // k3 s1: the phase GEMM, fill + accumulate
    [InlineData(2, 8, 15, 15, 8, 4, 2, 1)]     // odd map: col2im, fill + accumulate
    public void GivesTheBitsOfFillThenAccumulate(int n, int cin, int h, int w, int cout, int k, int stride, int pad)
    {
        var g = ConvGeom.Create(n, cin, h, w, cout, k, stride, pad);
        var dy = Tensor.FromArray(Cpu, Awkward(n + cin, g.OutputSize, zeroRun: g.Cout * g.Hout * g.Wout), g.N, g.Cout, g.Hout, g.Wout);
        var wt = Tensor.FromArray(Cpu, Awkward(cout + 7, g.WeightSize, zeroRun: 0), g.Cout, g.Cin, k, k);
        var composed = Tensor.Full(Cpu, float.NaN, g.N, g.Cin, g.H, g.W);
        Cpu.Fill(composed, 0f);
        Cpu.Conv2dBackwardInput(dy, wt, composed, g);
        var fresh = Tensor.Full(Cpu, float.NaN, g.N, g.Cin, g.H, g.W);
        Cpu.Conv2dBackwardInputInto(dy, wt, fresh, g);
        Bits.AssertSame(composed.ToArray(), fresh.ToArray());
        Assert.Contains(fresh.ToArray(), v => v == 0f);                              // the all-zero dy run gave zeros …
        Assert.DoesNotContain(fresh.ToArray(), v => v == 0f && float.IsNegative(v)); // … each +0, as 0 + (−0) gives
    }

    [Theory]
    [InlineData(ConvActivation.None, true)]
    [InlineData(ConvActivation.None, false)]
    [InlineData(ConvActivation.Relu, true)]
    public void TransposedConvAndConvInputGradientGiveTheComposedBits(ConvActivation act, bool bias)
    {
        // dec-like: x [6,32,4,4] → conv_transpose2d k4 s2 p1 → [6,16,8,8] → conv2d k4 s2 p1 back to [6,8,4,4] → loss.
        // The fused path's y and x's input gradient against the same ops computed by fill + accumulate by hand.
        var x = Tensor.FromArray(Cpu, Awkward(1, 6 * 32 * 16, zeroRun: 0), 6, 32, 4, 4);
        var wt = Tensor.FromArray(Cpu, Awkward(2, 32 * 16 * 16, zeroRun: 0), 32, 16, 4, 4);
        var b = bias ? Tensor.FromArray(Cpu, Awkward(3, 16, zeroRun: 0), 16) : null;
        var wc = Tensor.FromArray(Cpu, Awkward(4, 8 * 16 * 16, zeroRun: 0), 8, 16, 4, 4);
        var up = Tensor.FromArray(Cpu, Awkward(5, 6 * 8 * 16, zeroRun: 8 * 16), 6, 8, 4, 4);
        var h = F.ConvTranspose2d(x, wt, b, 2, 1, new ConvEpilogue(act)).Detach();
        h.RequiresGrad = true;   // a leaf without a gradient: its first input gradient goes into a fresh buffer
        F.Conv2d(h, wc, null, 2, 1).Backward(up);

        var tg = new ConvGeom(6, 16, 8, 8, 32, 4, 4, 2, 2, 1, 1, 4, 4);
        var hRef = Tensor.Zeros(Cpu, 6, 16, 8, 8);
        Cpu.Conv2dBackwardInput(x, wt, hRef, tg);
        if (act != ConvActivation.None) Cpu.BiasActivation(hRef, b, 6, 16, 64, new ConvEpilogue(act));
        else if (b is not null) Cpu.AddChannelBias(b, hRef, 6, 16, 64);
        Bits.AssertSame(hRef.ToArray(), h.ToArray());
        var cg = ConvGeom.Create(6, 16, 8, 8, 8, 4, 2, 1);
        var dhRef = Tensor.Zeros(Cpu, 6, 16, 8, 8);
        Cpu.Conv2dBackwardInput(up, wc, dhRef, cg);
        Bits.AssertSame(dhRef.ToArray(), h.Grad!.ToArray());
    }

    /// <summary>Values of both signs with signed zeros (and a run of −0 at the start — dy's first image — to give all-zero sums).</summary>
    private static float[] Awkward(int seed, int len, int zeroRun)
    {
        var rng = new Random(seed);
        var a = new float[len];
        for (int i = 0; i < len; i++)
            a[i] = i < zeroRun ? -0f : (i % 13) switch
            {
                0 => -0f,
                1 => 0f,
                _ => (float)(rng.NextDouble() * 2 - 1),
            };
        return a;
    }
}

/// <summary>On ILGPU (no overwrite kernel) the overwriting entry point fills then accumulates: the cpu values.</summary>
[Collection("ilgpu")]
public sealed class ConvBackwardInputOverwriteParityTests(IlgpuFixture ilgpu)
{
    [Theory]
    [InlineData(2, 8, 8, 8, 8)]   // a k4 s2 p1 shape the cpu overwrites
    [InlineData(2, 1, 8, 8, 4)]   // Cin = 1
    public void IntoMatchesCpu(int n, int cin, int h, int w, int cout)
    {
        var g = ConvGeom.Create(n, cin, h, w, cout, 4, 2, 1);
        var dy = GradCheck.Random(CpuBackend.Instance, 41, g.N, g.Cout, g.Hout, g.Wout);
        var wt = GradCheck.Random(CpuBackend.Instance, 42, g.Cout, g.Cin, 4, 4);
        Parity.Check(ilgpu.Backend, [dy, wt], (b, t) =>
        {
            var dx = Tensor.Full(b, float.NaN, g.N, g.Cin, g.H, g.W);
            b.Conv2dBackwardInputInto(t[0], t[1], dx, g);
            return [dx];
        }, rtol: 1e-5, atol: 1e-6);
    }
}
