using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class LinearTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Fact]
    public void LinearGradientMatchesFiniteDifferences()
    {
        var x = GradCheck.Random(Cpu, 41, 3, 5);
        var w = GradCheck.Random(Cpu, 42, 4, 5);
        var b = GradCheck.Random(Cpu, 43, 4);
        GradCheck.Check(t => F.Linear(t[0], t[1], t[2]), [x, w, b]);
        GradCheck.Check(t => F.Linear(t[0], t[1]), [GradCheck.Random(Cpu, 44, 1, 7), GradCheck.Random(Cpu, 45, 3, 7)]);
    }

    [Fact]
    public void LinearMatchesDefinition()
    {
        var x = GradCheck.Random(Cpu, 46, 2, 3);
        var w = GradCheck.Random(Cpu, 47, 4, 3);
        var b = GradCheck.Random(Cpu, 48, 4);
        var y = F.Linear(x, w, b).ToArray();
        float[] xa = x.ToArray(), wa = w.ToArray(), ba = b.ToArray();
        for (int i = 0; i < 2; i++)
            for (int o = 0; o < 4; o++)
            {
                double e = ba[o];
                for (int c = 0; c < 3; c++) e += xa[i * 3 + c] * wa[o * 3 + c];
                Assert.Equal(e, y[i * 4 + o], 5);
            }
    }

    [Theory]
    [InlineData(2, 3, 3, 5)]
    [InlineData(1, 3, 2, 3)]
    [InlineData(3, 1, 1, 7)]
    public void ChannelLinearGradientMatchesFiniteDifferences(int n, int c, int h, int w)
    {
        var x = GradCheck.Random(Cpu, 51, n, c, h, w);
        var wt = GradCheck.Random(Cpu, 52, 4, c);
        var b = GradCheck.Random(Cpu, 53, 4);
        GradCheck.Check(t => F.ChannelLinear(t[0], t[1], t[2]), [x, wt, b]);
        GradCheck.Check(t => F.ChannelLinear(t[0], t[1]), [x, wt]);
    }

    [Fact]
    public void ChannelLinearIsLinearAtEveryPosition()
    {
        // Same numbers as Linear on the [B·H·W, C] view of the features.
        var x = GradCheck.Random(Cpu, 54, 2, 3, 2, 2);
        var w = GradCheck.Random(Cpu, 55, 5, 3);
        var b = GradCheck.Random(Cpu, 56, 5);
        var y = F.ChannelLinear(x, w, b).ToArray();
        float[] xa = x.ToArray(), wa = w.ToArray(), ba = b.ToArray();
        for (int i = 0; i < 2; i++)
            for (int o = 0; o < 5; o++)
                for (int p = 0; p < 4; p++)
                {
                    double e = ba[o];
                    for (int c = 0; c < 3; c++) e += xa[(i * 3 + c) * 4 + p] * wa[o * 3 + c];
                    Assert.Equal(e, y[(i * 5 + o) * 4 + p], 5);
                }
    }
}
