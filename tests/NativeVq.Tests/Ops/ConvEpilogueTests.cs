using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

/// <summary>
/// The fused conv + bias + activation op (ConvEpilogue): equal bit for bit to the unfused composition
/// F.Relu/F.LeakyRelu/F.Elu(F.Conv2d(…)) forward and in every gradient, on each CPU conv path (implicit GEMM,
/// im2col, pointwise, transposed), and right by finite differences.
/// </summary>
public sealed class ConvEpilogueTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    public static IEnumerable<object[]> Epilogues()
    {
        yield return [ConvActivation.None, 0f];
        yield return [ConvActivation.Relu, 0f];
        yield return [ConvActivation.LeakyRelu, 0.2f];
        yield return [ConvActivation.Elu, 0f];
    }

    private static Tensor Unfused(Tensor pre, ConvEpilogue ep) => ep.Activation switch
    {
        ConvActivation.Relu => F.Relu(pre),
        ConvActivation.LeakyRelu => F.LeakyRelu(pre, ep.Slope),
        ConvActivation.Elu => F.Elu(pre),
        _ => pre,
    };

    // (n, cin, h, w, cout, k, stride, pad): 8x8 outputs (implicit GEMM), 4x4 outputs (im2col), 1x1 (pointwise), Cout
    // not a multiple of MR (edge tiles), and one with a single input channel (the VAE's first layer).
    public static IEnumerable<object[]> Shapes()
    {
        yield return [3, 5, 16, 16, 12, 4, 2, 1];
        yield return [5, 6, 8, 8, 10, 4, 2, 1];
        yield return [2, 7, 6, 6, 9, 1, 1, 0];
        yield return [4, 1, 16, 16, 16, 3, 1, 1];
    }

    public static IEnumerable<object[]> Cases() =>
        from s in Shapes() from e in Epilogues() from t in new object[] { false, true } select s.Concat(e).Append(t).ToArray();

    [Theory]
    [MemberData(nameof(Cases))]
    public void FusedEqualsUnfusedBitForBit(int n, int cin, int h, int w, int cout, int k, int stride, int pad,
        ConvActivation act, float slope, bool transposed)
    {
        var ep = new ConvEpilogue(act, slope);
        // Transposed: weight [cin, cout, k, k] maps [n, cin, h', w'] up; take the conv's input size as its input.
        var x = GradCheck.Random(Cpu, 1, n, cin, h, w);
        var wt = GradCheck.Random(Cpu, 2, transposed ? [cin, cout, k, k] : [cout, cin, k, k]);
        var b = GradCheck.Random(Cpu, 3, cout);
        Tensor Run(bool fused)
        {
            return transposed
                ? fused ? F.ConvTranspose2d(x, wt, b, stride, pad, ep) : Unfused(F.ConvTranspose2d(x, wt, b, stride, pad), ep)
                : fused ? F.Conv2d(x, wt, b, stride, pad, ep) : Unfused(F.Conv2d(x, wt, b, stride, pad), ep);
        }
        var (y1, g1) = ForwardBackward(() => Run(true), x, wt, b);
        var (y0, g0) = ForwardBackward(() => Run(false), x, wt, b);
        Assert.True(y1.Any(v => v != 0f) && y1.Any(v => v < 0f || act is ConvActivation.Relu));
        if (act == ConvActivation.Relu) Assert.Contains(0f, y1);   // both sides of the kink are exercised
        Assert.Equal(y0, y1);
        for (int i = 0; i < g0.Length; i++) Assert.Equal(g0[i], g1[i]);
    }

    /// <summary>Output and the gradients of x, w and b for a fixed random upstream gradient.</summary>
    private static (float[] Y, float[][] Grads) ForwardBackward(Func<Tensor> f, params Tensor[] inputs)
    {
        foreach (var t in inputs) { t.RequiresGrad = true; t.Grad = null; }
        using var scope = new TensorScope();
        var y = f();
        y.Backward(GradCheck.Random(Cpu, 9, y.Shape));
        var grads = inputs.Select(t => t.Grad!.ToArray()).ToArray();
        foreach (var t in inputs) { t.Grad!.Dispose(); t.Grad = null; }
        return (y.ToArray(), grads);
    }

    [Theory]
    [MemberData(nameof(Epilogues))]
    public void GradientsMatchFiniteDifferences(ConvActivation act, float slope)
    {
        // Small x and w, biases with |b| ≥ 0.8: every pre-activation keeps its sign under a ±h nudge, so the kinks of
        // ReLU and LeakyReLU are never crossed; channels of both signs exercise both branches.
        var ep = new ConvEpilogue(act, slope);
        var x = GradCheck.Random(Cpu, 11, -0.2f, 0.2f, 2, 2, 6, 6);
        var w = GradCheck.Random(Cpu, 12, -0.2f, 0.2f, 4, 2, 3, 3);
        var b = GradCheck.RandomAwayFromZero(Cpu, 13, 0.8f, 4);
        GradCheck.Check(t => F.Conv2d(t[0], t[1], t[2], 2, 1, ep), [x, w, b]);
        var wt = GradCheck.Random(Cpu, 14, -0.2f, 0.2f, 2, 4, 4, 4);
        GradCheck.Check(t => F.ConvTranspose2d(t[0], t[1], t[2], 2, 1, ep), [x, wt, b]);
    }

    [Fact]
    public void WithoutBiasTheActivationStillApplies()
    {
        var x = GradCheck.Random(Cpu, 21, 2, 3, 8, 8);
        var w = GradCheck.Random(Cpu, 22, 4, 3, 4, 4);
        using var scope = new TensorScope();
        Assert.Equal(F.LeakyRelu(F.Conv2d(x, w, null, 2, 1), 0.2f).ToArray(), F.Conv2d(x, w, null, 2, 1, ConvEpilogue.LeakyRelu(0.2f)).ToArray());
    }

    [Fact]
    public void NegativeOrNonFiniteLeakySlopeIsRefused()
    {
        // The backward reads the sign of x from y: a negative slope would flip it.
        Assert.Throws<ArgumentException>(() => ConvEpilogue.LeakyRelu(-0.1f));
        Assert.Throws<ArgumentException>(() => ConvEpilogue.LeakyRelu(float.NaN));
    }

    [Fact]
    public void SteadyFusedStepAllocatesNoBuffers()
    {
        var be = new CpuBackend();
        var x = GradCheck.Random(Cpu, 31, 4, 3, 16, 16).To(be);
        var w = GradCheck.Random(Cpu, 32, 8, 3, 4, 4).To(be);
        var b = GradCheck.Random(Cpu, 33, 8).To(be);
        w.RequiresGrad = b.RequiresGrad = true;
        void Step()
        {
            using var scope = new TensorScope();
            var y = F.ConvTranspose2d(F.Conv2d(x, w, b, 2, 1, ConvEpilogue.Relu), w, null, 2, 1, ConvEpilogue.Elu);
            y.Backward(Tensor.Full(be, 1f, y.Shape));
        }
        Step();
        long after1 = be.Pool.Allocations;
        Step();
        Step();
        Assert.Equal(after1, be.Pool.Allocations);
    }
}
