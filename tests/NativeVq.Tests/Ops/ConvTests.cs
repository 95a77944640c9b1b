using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class ConvTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    private static int P(GoldenCase c, string name) => c.Params.GetProperty(name)[0].GetInt32();

    [Theory]
    [InlineData("conv2d_a")]
    [InlineData("conv2d_b")]
    [InlineData("conv2d_c")]
    [InlineData("conv2d_d")]
    [InlineData("conv2d_e")]
    public void Conv2dMatchesGolden(string name)
    {
        using var scope = new TensorScope();
        var c = new GoldenCase(name);
        var x = c.Load(Cpu, "x", true);
        var w = c.Load(Cpu, "weight", true);
        var b = c.Has("bias") ? c.Load(Cpu, "bias", true) : null;
        Assert.Equal(c.Params.GetProperty("bias").GetBoolean(), b is not null);
        var y = F.Conv2d(x, w, b, P(c, "stride"), P(c, "padding"));
        c.AssertClose("out", y);
        y.Backward(c.Load(Cpu, "upstream:out"));
        c.AssertGrad("x", x);
        c.AssertGrad("weight", w);
        if (b is not null) c.AssertGrad("bias", b);
        if (name == "conv2d_e")
        {
            // Floor semantics: x row 8 and column 6 are read by no window.
            var gx = x.Grad!.ToArray();
            for (int i = 0; i < gx.Length; i++)
                if (i % 63 / 7 == 8 || i % 7 == 6) Assert.Equal(0f, gx[i]);
        }
    }

    [Theory]
    [InlineData("conv_transpose2d_a")]
    [InlineData("conv_transpose2d_b")]
    [InlineData("conv_transpose2d_c")]
    public void ConvTranspose2dMatchesGolden(string name)
    {
        using var scope = new TensorScope();
        var c = new GoldenCase(name);
        var x = c.Load(Cpu, "x", true);
        var w = c.Load(Cpu, "weight", true);
        var b = c.Load(Cpu, "bias", true);
        var y = F.ConvTranspose2d(x, w, b, P(c, "stride"), P(c, "padding"));
        c.AssertClose("out", y);
        y.Backward(c.Load(Cpu, "upstream:out"));
        c.AssertGrad("x", x);
        c.AssertGrad("weight", w);
        c.AssertGrad("bias", b);
    }

    [Fact]
    public void MaskedConv3x3MatchesGolden()
    {
        using var scope = new TensorScope();
        var c = new GoldenCase("masked_conv3x3");
        var x = c.Load(Cpu, "x", true);
        var w = c.Load(Cpu, "conv.weight", true);
        var b = c.Load(Cpu, "conv.bias", true);
        var mask = c.Load(Cpu, "mask");
        var y = F.MaskedConv2d(x, w, mask, b, 1, (1, 1, 2, 0));
        c.AssertClose("out", y);
        y.Backward(c.Load(Cpu, "upstream:out"));
        c.AssertGrad("x", x);
        c.AssertGrad("conv.weight", w);
        c.AssertGrad("conv.bias", b);
        var gw = w.Grad!.ToArray();
        for (int i = 8; i < gw.Length; i += 9) Assert.Equal(0f, gw[i]); // tap [2,2] of every (o, c)
    }

    [Theory]
    // n, cin, h, w, cout, kh, kw, stride, padTop, padBottom, padLeft, padRight
    [InlineData(2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1)]
    [InlineData(1, 2, 9, 8, 3, 3, 3, 2, 1, 1, 1, 1)]   // batch 1, stride 2
    [InlineData(2, 3, 6, 7, 2, 4, 4, 2, 1, 1, 1, 1)]   // the VQ-VAE down-sampler shape
    [InlineData(3, 4, 5, 6, 5, 1, 1, 1, 0, 0, 0, 0)]   // pointwise (plain GEMM path)
    [InlineData(2, 3, 5, 5, 2, 2, 5, 1, 1, 0, 2, 2)]   // PixelSNAIL conv_down padding
    [InlineData(2, 2, 6, 5, 3, 3, 3, 1, 2, 0, 1, 1)]   // masked 3x3 padding
    [InlineData(1, 2, 9, 7, 2, 3, 2, 2, 0, 1, 2, 0)]   // odd, stride 2, lopsided pads
    public void Conv2dGradientsMatchFiniteDifferences(int n, int cin, int h, int w, int cout, int kh, int kw, int stride, int pt, int pb, int pl, int pr)
    {
        var x = GradCheck.Random(Cpu, 31, n, cin, h, w);
        var wt = GradCheck.Random(Cpu, 32, cout, cin, kh, kw);
        var b = GradCheck.Random(Cpu, 33, cout);
        GradCheck.Check(t => F.Conv2d(t[0], t[1], t[2], stride, stride, pt, pb, pl, pr), [x, wt, b]);
    }

    [Fact]
    public void AsymmetricPaddingOverloadEqualsExplicitPad()
    {
        // (left, right, top, bottom) in F.pad order; equals a conv of a zero-padded copy.
        var x = GradCheck.Random(Cpu, 34, 1, 2, 4, 5);
        var w = GradCheck.Random(Cpu, 35, 3, 2, 2, 3);
        var y = F.Conv2d(x, w, null, 1, (2, 1, 1, 0)).ToArray();
        var xs = x.ToArray();
        var padded = new float[2 * 5 * 8];
        for (int c = 0; c < 2; c++) for (int i = 0; i < 4; i++) for (int j = 0; j < 5; j++) padded[(c * 5 + i + 1) * 8 + j + 2] = xs[(c * 4 + i) * 5 + j];
        var yRef = F.Conv2d(Tensor.FromArray(Cpu, padded, 1, 2, 5, 8), w).ToArray();
        Assert.Equal(yRef.Length, y.Length);
        for (int i = 0; i < y.Length; i++) Assert.Equal(yRef[i], y[i], 5);
    }

    [Theory]
    // n, cin, h, w, cout, k, stride, padding
    [InlineData(2, 3, 4, 5, 2, 4, 2, 1)]
    [InlineData(1, 2, 3, 3, 3, 3, 2, 1)]
    [InlineData(2, 2, 3, 4, 2, 3, 1, 0)]
    [InlineData(1, 3, 2, 3, 2, 1, 1, 0)]
    public void ConvTranspose2dGradientsMatchFiniteDifferences(int n, int cin, int h, int w, int cout, int k, int stride, int padding)
    {
        var x = GradCheck.Random(Cpu, 41, n, cin, h, w);
        var wt = GradCheck.Random(Cpu, 42, cin, cout, k, k);
        var b = GradCheck.Random(Cpu, 43, cout);
        GradCheck.Check(t => F.ConvTranspose2d(t[0], t[1], t[2], stride, padding), [x, wt, b]);
        var y = F.ConvTranspose2d(x, wt, b, stride, padding);
        Assert.Equal(new[] { n, cout, (h - 1) * stride - 2 * padding + k, (w - 1) * stride - 2 * padding + k }, y.Shape);
    }

    [Fact]
    public void MaskedConvGradientsMatchFiniteDifferencesAndAreZeroAtMaskedTaps()
    {
        var x = GradCheck.Random(Cpu, 51, 2, 3, 5, 4);
        var w = GradCheck.Random(Cpu, 52, 2, 3, 3, 3);
        var b = GradCheck.Random(Cpu, 53, 2);
        var mask = Tensor.FromArray(Cpu, new float[] { 1, 1, 1, 1, 1, 0, 0, 0, 0 }, 1, 1, 3, 3);
        GradCheck.Check(t => F.MaskedConv2d(t[0], t[1], mask, t[2], 1, (1, 1, 2, 0)), [x, w, b]);

        w.RequiresGrad = true;
        using var scope = new TensorScope();
        F.Sum(F.MaskedConv2d(x, w, mask, b, 1, 1)).Backward();
        var gw = w.Grad!.ToArray();
        var m = mask.ToArray();
        for (int i = 0; i < gw.Length; i++)
        {
            if (m[i % 9] == 0f) Assert.Equal(0f, gw[i]);
            else Assert.NotEqual(0f, gw[i]);
        }
    }

    [Fact]
    public void CpuConvIsDeterministic()
    {
        var x = GradCheck.Random(Cpu, 61, 9, 3, 11, 10);
        var w = GradCheck.Random(Cpu, 62, 4, 3, 3, 3);
        var dy = GradCheck.Random(Cpu, 63, 9, 4, 6, 5);
        var g = ConvGeom.Create(9, 3, 11, 10, 4, 3, 2, 1);
        float[] Run()
        {
            var dw = Tensor.Zeros(Cpu, 4, 3, 3, 3);
            Cpu.Conv2dBackwardWeight(x, dy, dw, g);
            var dx = Tensor.Zeros(Cpu, 9, 3, 11, 10);
            Cpu.Conv2dBackwardInput(dy, w, dx, g);
            return dw.ToArray().Concat(dx.ToArray()).ToArray();
        }
        Assert.Equal(Run(), Run());
    }

    /// <summary>
    /// Batches large enough to run several images per GEMM (small maps: 11 images of 5x4) must give the same
    /// forward and input gradient as image-by-image calls (bit-identical: every element is summed in the same
    /// order), and the same weight gradient up to rounding.
    /// </summary>
    [Theory]
    // cin, h, w, cout, kh, kw, stride, padTop, padBottom, padLeft, padRight
    [InlineData(3, 5, 4, 4, 3, 3, 1, 1, 1, 1, 1)]
    [InlineData(3, 6, 7, 2, 4, 4, 2, 1, 1, 1, 1)]
    [InlineData(4, 5, 6, 5, 1, 1, 1, 0, 0, 0, 0)]   // pointwise
    [InlineData(2, 6, 5, 3, 2, 3, 1, 1, 0, 1, 1)]
    public void ChunkedBatchEqualsPerImage(int cin, int h, int w, int cout, int kh, int kw, int stride, int pt, int pb, int pl, int pr)
    {
        const int n = 11;
        var g = ConvGeom.Create(n, cin, h, w, cout, kh, kw, stride, stride, pt, pb, pl, pr);
        var g1 = g with { N = 1 };
        Assert.True(CpuConv.ChunkImages(n, g.Hout * g.Wout) > 1 || Environment.ProcessorCount > 8);
        var x = GradCheck.Random(Cpu, 71, n, cin, h, w);
        var wt = GradCheck.Random(Cpu, 72, cout, cin, kh, kw);
        var dy = GradCheck.Random(Cpu, 73, n, cout, g.Hout, g.Wout);
        var y = Tensor.Empty(Cpu, n, cout, g.Hout, g.Wout);
        Cpu.Conv2dForward(x, wt, null, y, g);
        var dx = Tensor.Zeros(Cpu, n, cin, h, w);
        Cpu.Conv2dBackwardInput(dy, wt, dx, g);
        var dw = Tensor.Zeros(Cpu, cout, cin, kh, kw);
        Cpu.Conv2dBackwardWeight(x, dy, dw, g);

        float[] xa = x.ToArray(), dya = dy.ToArray(), ya = y.ToArray(), dxa = dx.ToArray();
        var dwRef = new double[dw.Numel];
        int xs = cin * h * w, ys = cout * g.Hout * g.Wout;
        for (int i = 0; i < n; i++)
        {
            var xi = Tensor.FromArray(Cpu, xa.AsSpan(i * xs, xs).ToArray(), 1, cin, h, w);
            var dyi = Tensor.FromArray(Cpu, dya.AsSpan(i * ys, ys).ToArray(), 1, cout, g.Hout, g.Wout);
            var yi = Tensor.Empty(Cpu, 1, cout, g.Hout, g.Wout);
            Cpu.Conv2dForward(xi, wt, null, yi, g1);
            Assert.Equal(ya.AsSpan(i * ys, ys).ToArray(), yi.ToArray());
            var dxi = Tensor.Zeros(Cpu, 1, cin, h, w);
            Cpu.Conv2dBackwardInput(dyi, wt, dxi, g1);
            Assert.Equal(dxa.AsSpan(i * xs, xs).ToArray(), dxi.ToArray());
            var dwi = Tensor.Zeros(Cpu, cout, cin, kh, kw);
            Cpu.Conv2dBackwardWeight(xi, dyi, dwi, g1);
            var d = dwi.ToArray();
            for (int j = 0; j < d.Length; j++) dwRef[j] += d[j];
        }
        var dwa = dw.ToArray();
        for (int j = 0; j < dwa.Length; j++) Assert.True(Math.Abs(dwa[j] - dwRef[j]) <= 1e-4 * (1 + Math.Abs(dwRef[j])), $"dw[{j}] {dwa[j]} vs {dwRef[j]}");
    }
}
