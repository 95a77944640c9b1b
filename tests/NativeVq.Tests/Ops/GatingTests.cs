using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class GatingTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Fact]
    public void GluMatchesGolden()
    {
        var g = new GoldenCase("act_glu");
        var x = g.Load(Cpu, "x", requiresGrad: true);
        var y = F.Glu(x);
        g.AssertClose("out", y);
        y.Backward(g.Load(Cpu, "upstream:out"));
        g.AssertGrad("x", x);
    }

    [Theory]
    [InlineData(2, 6, 3, 3)]
    [InlineData(1, 2, 5, 7)]
    [InlineData(3, 4, 1, 1)]
    public void GluGradientMatchesFiniteDifferences(int n, int c, int h, int w)
    {
        var x = GradCheck.Random(Cpu, 51, -2f, 2f, n, c, h, w);
        GradCheck.Check(t => F.Glu(t[0]), [x]);
    }

    [Fact]
    public void DropoutGradientMatchesFiniteDifferencesThroughItsFixedMask()
    {
        var x = GradCheck.Random(Cpu, 52, 2, 3, 5, 7);
        GradCheck.Check(t => F.Tanh(F.Dropout(t[0], 0.3f, 1234UL)), [x], maxChecksPerInput: 210);
    }

    [Fact]
    public void DropoutKeepsAboutOneMinusPAndScales()
    {
        const int n = 100_000;
        var x = Tensor.Full(Cpu, 1f, n);
        foreach (var p in new[] { 0.1f, 0.5f, 0.9f })
        {
            var y = F.Dropout(x, p, 42UL).ToArray();
            int kept = 0;
            float scale = 1f / (1f - p);
            foreach (var v in y)
            {
                if (v != 0f) { kept++; Assert.Equal(scale, v); }
            }
            double rate = kept / (double)n, sd = Math.Sqrt(p * (1 - p) / n);
            Assert.True(Math.Abs(rate - (1 - p)) < 5 * sd, $"p = {p}: kept {rate:F4}, expected {1 - p:F4} ± {5 * sd:F4}");
        }
    }

    [Fact]
    public void DropoutMaskDependsOnlyOnTheSeed()
    {
        const int n = 100_003; // odd length: the SIMD body, the scalar tail and the parallel chunks all run
        var x = Tensor.Full(Cpu, 1f, n);
        var a = F.Dropout(x, 0.5f, 7UL).ToArray();
        var b = F.Dropout(x, 0.5f, 7UL).ToArray();
        var c = F.Dropout(x, 0.5f, 8UL).ToArray();
        var d = F.Dropout(x, 0.5f, 7UL | (1UL << 32)).ToArray(); // the high word of the seed matters too
        Assert.Equal(a, b);
        int differ = a.Zip(c).Count(t => (t.First == 0f) != (t.Second == 0f));
        Assert.True(differ > n / 3, $"seeds 7 and 8 differ at only {differ} of {n} elements");
        differ = a.Zip(d).Count(t => (t.First == 0f) != (t.Second == 0f));
        Assert.True(differ > n / 3, $"seeds differing in the high word differ at only {differ} of {n} elements");
        // The vectorised cpu kernel agrees with the scalar definition element by element.
        for (int i = 0; i < n; i++) Assert.Equal(DropoutHash.Keep(7UL, i, 0.5f), a[i] != 0f);
    }

    [Fact]
    public void DropoutIsIdentityWhenEvaluatingOrPZero()
    {
        var x = GradCheck.Random(Cpu, 53, 2, 3);
        Assert.Same(x, F.Dropout(x, 0.5f, 1UL, training: false));
        Assert.Same(x, F.Dropout(x, 0f, 1UL));
        Assert.Throws<ArgumentOutOfRangeException>(() => F.Dropout(x, 1f, 1UL));
    }

    [Fact]
    public void DropoutBackwardUsesTheForwardMask()
    {
        var x = GradCheck.Random(Cpu, 54, 4, 1000);
        x.RequiresGrad = true;
        var y = F.Dropout(x, 0.25f, 99UL);
        y.Backward(Tensor.Full(Cpu, 1f, 4, 1000));
        var ya = y.ToArray();
        var ga = x.Grad!.ToArray();
        for (int i = 0; i < ya.Length; i++)
            Assert.Equal(ya[i] != 0f ? 1f / 0.75f : 0f, ga[i]);
    }
}
