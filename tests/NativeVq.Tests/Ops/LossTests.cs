using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class LossTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    [InlineData("loss_mse")]
    [InlineData("loss_l1")]
    public void LossMatchesGolden(string name)
    {
        var gc = new GoldenCase(name);
        using var scope = new TensorScope();
        var x = gc.Load(Cpu, "input", requiresGrad: true);
        var t = gc.Load(Cpu, "target", requiresGrad: true);
        var loss = name == "loss_mse" ? F.MseLoss(x, t) : F.L1Loss(x, t);
        gc.AssertClose("loss", loss);
        loss.Backward(gc.Load(Cpu, "upstream:loss"));
        gc.AssertGrad("input", x);
        gc.AssertGrad("target", t);
    }

    [Theory]
    [InlineData(1, 1, 3, 5)]
    [InlineData(2, 3, 7, 9)]
    [InlineData(1, 1, 41, 53)] // > 1024 elements: several blocks
    public void LossGradientsMatchFiniteDifferences(int n, int c, int h, int w)
    {
        var a = GradCheck.Random(Cpu, 61, n, c, h, w);
        var b = GradCheck.Random(Cpu, 62, n, c, h, w);
        GradCheck.Check(t => F.MseLoss(t[0], t[1]), [a, b]);
        // L1: draw b = a + δ with |δ| ≥ 0.1 so the ±h nudges never cross the kink at a = b.
        var delta = GradCheck.RandomAwayFromZero(Cpu, 63, 0.1f, n, c, h, w);
        var b1 = F.Add(a, delta).Detach();
        GradCheck.Check(t => F.L1Loss(t[0], t[1]), [a, b1], atol: 1e-3);
    }

    [Fact]
    public void L1SignOfZeroIsZeroAndOnlyNeededGradsAreWritten()
    {
        var a = Tensor.FromArray(Cpu, new[] { 1f, 2f, 3f, 4f }, 4);
        var b = Tensor.FromArray(Cpu, new[] { 1f, 1f, 5f, 4f }, 4);
        a.RequiresGrad = true;
        var l = F.L1Loss(a, b);
        Assert.Equal(0.75f, l.Item());
        l.Backward();
        Assert.Equal(new[] { 0f, 0.25f, -0.25f, 0f }, a.Grad!.ToArray());
        Assert.Null(b.Grad);
    }

    [Fact]
    public void LossIsDeterministicOverManyElements()
    {
        var a = GradCheck.Random(Cpu, 64, 300_007);
        var b = GradCheck.Random(Cpu, 65, 300_007);
        float l1 = F.MseLoss(a, b).Item(), l2 = F.MseLoss(a, b).Item();
        Assert.Equal(l1, l2);
        var av = a.ToArray(); var bv = b.ToArray();
        double exact = 0;
        for (int i = 0; i < av.Length; i++) exact += Math.Pow((double)av[i] - bv[i], 2);
        exact /= av.Length;
        Assert.True(Math.Abs(l1 - exact) < 1e-6 * exact + 1e-7, $"{l1} vs {exact}");
    }

    /// <summary>No golden case (PyTorch is not installed where it was added): the KL against a float64 reference, value and gradients.</summary>
    [Fact]
    public void GaussianKlMatchesAFloat64Reference()
    {
        int n = 3, d = 10;
        var mu = GradCheck.Random(Cpu, 71, -2f, 2f, n, d);
        var lv = GradCheck.Random(Cpu, 72, -3f, 2f, n, d);
        mu.RequiresGrad = true; lv.RequiresGrad = true;
        var kl = F.GaussianKl(mu, lv);
        kl.Backward();
        var m = mu.ToArray(); var l = lv.ToArray();
        double want = 0;
        for (int i = 0; i < m.Length; i++) want += -0.5 * (1 + l[i] - (double)m[i] * m[i] - Math.Exp(l[i]));
        want /= n;
        Assert.Equal(want, kl.Item(), 4);
        var gm = mu.Grad!.ToArray(); var gl = lv.Grad!.ToArray();
        for (int i = 0; i < m.Length; i++)
        {
            Assert.Equal(m[i] / (double)n, gm[i], 5);
            Assert.Equal(0.5 * (Math.Exp(l[i]) - 1) / n, gl[i], 5);
        }
    }

    [Fact]
    public void GaussianKlIsZeroForTheStandardNormalAndItsGradientsMatchFiniteDifferences()
    {
        var zero = Tensor.Zeros(Cpu, 4, 8);
        Assert.Equal(0f, F.GaussianKl(zero, zero).Item());
        var mu = GradCheck.Random(Cpu, 73, 2, 3, 4);
        var lv = GradCheck.Random(Cpu, 74, 2, 3, 4);
        GradCheck.Check(t => F.GaussianKl(t[0], t[1]), [mu, lv]);
    }
}

/// <summary>BCE with logits against a float64 reference (no golden case: PyTorch is not available to generate one).</summary>
public sealed class BceWithLogitsTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    private static double Reference(double x, double t) => Math.Max(x, 0) - x * t + Log1pExpNeg(Math.Abs(x));

    /// <summary>log(1 + e^−u) in double; the series below 1e-5 keeps the digits that rounding 1 + e would drop.</summary>
    private static double Log1pExpNeg(double u)
    {
        double e = Math.Exp(-u);
        return e < 1e-5 ? e - e * e / 2 : Math.Log(1 + e);
    }

    [Fact]
    public void MatchesReferenceIncludingExtremeLogits()
    {
        // ±100 would overflow exp(x) in a naive log(1 + exp(x)); 15..30 exercise the small-exp series.
        var xs = new[] { -100f, -30f, -15f, -4.6f, -1f, -0.01f, 0f, 0.3f, 2f, 4.7f, 15f, 30f, 100f, 5.5f };
        var ts = new[] { 0f, 1f, 0f, 1f, 0.5f, 1f, 0f, 1f, 0f, 0f, 1f, 0f, 1f, 0.25f };
        var x = Tensor.FromArray(Cpu, xs, xs.Length);
        var t = Tensor.FromArray(Cpu, ts, ts.Length);
        x.RequiresGrad = t.RequiresGrad = true;
        var loss = F.BceWithLogits(x, t);
        double expected = xs.Select((v, i) => Reference(v, ts[i])).Average();
        Assert.True(Math.Abs(loss.Item() - expected) < 1e-6 * expected, $"{loss.Item()} vs {expected}");
        loss.Backward();
        var dx = x.Grad!.ToArray();
        var dt = t.Grad!.ToArray();
        for (int i = 0; i < xs.Length; i++)
        {
            double sig = 1 / (1 + Math.Exp(-(double)xs[i]));
            Assert.True(Math.Abs(dx[i] - (sig - ts[i]) / xs.Length) < 1e-7, $"dx[{i}] {dx[i]} vs {(sig - ts[i]) / xs.Length}");
            Assert.True(Math.Abs(dt[i] - -xs[i] / (double)xs.Length) < 1e-6, $"dt[{i}] {dt[i]}");
        }
    }

    [Fact]
    public void SmallTermsKeepTheirDigits()
    {
        // Each element's loss is log(1 + e^−x) ≈ e^−x for a large positive logit with target 1.
        foreach (float v in new[] { 5f, 10f, 20f, 40f })
        {
            var x = Tensor.FromArray(Cpu, new[] { v }, 1);
            var t = Tensor.FromArray(Cpu, new[] { 1f }, 1);
            double expected = Log1pExpNeg(v);
            float got = F.BceWithLogits(x, t).Item();
            Assert.True(Math.Abs(got - expected) <= 1e-5 * expected, $"x = {v}: {got} vs {expected}");
        }
    }

    [Theory]
    [InlineData(2, 3, 1, 1)]
    [InlineData(1, 1, 41, 53)] // > 1024 elements: several blocks
    public void GradientsMatchFiniteDifferences(int n, int c, int h, int w)
    {
        var x = GradCheck.Random(Cpu, 66, -3f, 3f, n, c, h, w);
        var t = GradCheck.Random(Cpu, 67, 0f, 1f, n, c, h, w);
        GradCheck.Check(a => F.BceWithLogits(a[0], a[1]), [x, t]);
    }
}
