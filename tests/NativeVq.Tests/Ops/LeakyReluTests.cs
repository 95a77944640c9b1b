using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

/// <summary>LeakyReLU against a float64 reference (no golden case: PyTorch is not available to generate one).</summary>
public sealed class LeakyReluTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    [InlineData(0.2f, 37)]
    [InlineData(0.01f, 1000)] // past the vector body and its tail
    public void MatchesReferenceForwardAndBackward(float slope, int n)
    {
        var x = GradCheck.Random(Cpu, 71, -2f, 2f, n);
        x.RequiresGrad = true;
        var xs = x.ToArray();
        xs[0] = 0f; // the kink: derivative at 0 is the slope, as PyTorch's
        Cpu.Upload(xs, x.Memory);
        var y = F.LeakyRelu(x, slope);
        var ys = y.ToArray();
        var up = GradCheck.Random(Cpu, 72, n);
        y.Backward(up);
        var us = up.ToArray();
        var gs = x.Grad!.ToArray();
        for (int i = 0; i < n; i++)
        {
            double r = xs[i] > 0 ? xs[i] : (double)slope * xs[i];
            Assert.Equal(r, ys[i], 6);
            double dr = us[i] * (xs[i] > 0 ? 1.0 : slope);
            Assert.Equal(dr, gs[i], 6);
        }
    }

    [Fact]
    public void GradientMatchesFiniteDifferences()
    {
        var x = GradCheck.RandomAwayFromZero(Cpu, 73, 0.1f, 2, 3, 5, 5);
        GradCheck.Check(t => F.LeakyRelu(t[0], 0.2f), [x]);
    }
}
