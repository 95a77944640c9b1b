using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class SoftmaxTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    public static TheoryData<int[]> Shapes => new()
    {
        new[] { 2, 5, 3, 3 },
        new[] { 3, 7 },          // hw = 1: the contiguous row path
        new[] { 1, 4, 5, 7 },    // batch 1, odd sizes
        new[] { 1, 3, 17, 17 },  // hw = 289 > one 256-position tile
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void SoftmaxGradientMatchesFiniteDifferences(int[] shape)
    {
        var x = GradCheck.Random(Cpu, 31, -2f, 2f, shape);
        GradCheck.Check(t => F.Softmax(t[0]), [x]);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void LogSoftmaxGradientMatchesFiniteDifferences(int[] shape)
    {
        var x = GradCheck.Random(Cpu, 32, -2f, 2f, shape);
        GradCheck.Check(t => F.LogSoftmax(t[0]), [x]);
    }

    [Fact]
    public void SoftmaxMatchesDirectFormulaAndIsStableForHugeLogits()
    {
        var data = new float[] { 1000f, 1001f, 999f, -5f, 0f, 5f };
        var x = Tensor.FromArray(Cpu, data, 1, 3, 2); // positions (1000, 1001, 999) and (-5, 0, 5)
        var y = F.Softmax(x).ToArray();
        var ly = F.LogSoftmax(x).ToArray();
        for (int p = 0; p < 2; p++)
        {
            double m = Enumerable.Range(0, 3).Max(c => (double)data[c * 2 + p]);
            double s = Enumerable.Range(0, 3).Sum(c => Math.Exp(data[c * 2 + p] - m));
            for (int c = 0; c < 3; c++)
            {
                double lp = data[c * 2 + p] - m - Math.Log(s);
                Assert.Equal(Math.Exp(lp), y[c * 2 + p], 6);
                Assert.True(Math.Abs(lp - ly[c * 2 + p]) <= 1e-6 + 1e-6 * Math.Abs(lp), $"log-softmax {ly[c * 2 + p]} vs {lp}");
            }
        }
    }

    [Theory]
    [InlineData(new[] { 2, 5, 3, 3 })]
    [InlineData(new[] { 4, 6 })]
    [InlineData(new[] { 1, 3, 17, 17 })]
    public void CrossEntropyGradientMatchesFiniteDifferences(int[] shape)
    {
        var logits = GradCheck.Random(Cpu, 33, -2f, 2f, shape);
        var targets = RandomTargets(Cpu, 34, shape);
        GradCheck.Check(t => F.CrossEntropyMap(t[0], targets), [logits]);
        GradCheck.Check(t => F.Scale(F.CrossEntropy(t[0], targets), 10f), [logits]);
    }

    [Fact]
    public void CrossEntropyRejectsTargetsOutOfRange()
    {
        var logits = GradCheck.Random(Cpu, 35, 2, 4, 3);
        var bad = Tensor.FromArray(Cpu, new[] { 0, 1, 4, 3, 2, 1 }, 2, 3);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => F.CrossEntropyMap(logits, bad));
        Assert.Contains("target 4", ex.Message);
        var neg = Tensor.FromArray(Cpu, new[] { 0, 1, 2, -1, 2, 1 }, 2, 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => F.CrossEntropy(logits, neg));
    }

    [Fact]
    public void CrossEntropyIsStableForHugeLogits()
    {
        var logits = Tensor.FromArray(Cpu, new[] { 1000f, 0f, -1000f, 2000f }, 2, 2); // [N=2, K=2]
        var nll = F.CrossEntropyMap(logits, Tensor.FromArray(Cpu, new[] { 0, 0 }, 2)).ToArray();
        Assert.Equal(0.0, nll[0], 5);
        Assert.Equal(3000.0, nll[1], 1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MaskedSoftmaxGradientMatchesFiniteDifferences(bool strict)
    {
        var s = GradCheck.Random(Cpu, 36, -2f, 2f, 2, 7, 7);
        GradCheck.Check(t => F.MaskedSoftmaxRows(t[0], 0.7f, strict), [s], maxChecksPerInput: 98);
        var s1 = GradCheck.Random(Cpu, 37, -2f, 2f, 1, 5, 5);
        GradCheck.Check(t => F.MaskedSoftmaxRows(t[0], 1.3f, strict), [s1]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MaskedSoftmaxMasksExactlyAndIgnoresMaskedScores(bool strict)
    {
        int n = 6;
        var data = GradCheck.Random(Cpu, 38, 2, n, n).ToArray();
        var p1 = F.MaskedSoftmaxRows(Tensor.FromArray(Cpu, data, 2, n, n), 0.5f, strict).ToArray();
        // Masked entries may hold anything, even inf/NaN: they must not be read.
        for (int b = 0; b < 2; b++)
            for (int s = 0; s < n; s++)
                for (int t = strict ? s : s + 1; t < n; t++) data[(b * n + s) * n + t] = t % 2 == 0 ? float.NaN : float.PositiveInfinity;
        var p2 = F.MaskedSoftmaxRows(Tensor.FromArray(Cpu, data, 2, n, n), 0.5f, strict).ToArray();
        Assert.Equal(p1, p2);
        for (int b = 0; b < 2; b++)
            for (int s = 0; s < n; s++)
            {
                int len = strict ? s : s + 1;
                double sum = 0;
                for (int t = 0; t < n; t++)
                {
                    float v = p1[(b * n + s) * n + t];
                    if (t >= len) Assert.Equal(0f, v);
                    sum += v;
                }
                Assert.Equal(len == 0 ? 0.0 : 1.0, sum, 5);
            }
    }

    internal static Tensor RandomTargets(Backend backend, int seed, int[] logitShape)
    {
        var rng = new Random(seed);
        var tshape = new[] { logitShape[0] }.Concat(logitShape.Skip(2)).ToArray();
        var t = Enumerable.Range(0, ShapeUtil.Numel(tshape)).Select(_ => rng.Next(logitShape[1])).ToArray();
        return Tensor.FromArray(backend, t, tshape);
    }

    [Fact]
    public void GoldenCrossEntropy()
    {
        var g = new GoldenCase("loss_cross_entropy");
        using var scope = new TensorScope();
        var logits = g.Load(Cpu, "logits", requiresGrad: true);
        var target = g.Load(Cpu, "target");
        var loss = F.CrossEntropy(logits, target);
        g.AssertClose("loss", loss);
        using (Autograd.NoGrad()) g.AssertClose("nll_map", F.CrossEntropyMap(logits, target));
        loss.Backward(g.Load(Cpu, "upstream:loss"));
        g.AssertGrad("logits", logits);
    }
}
