using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class ReduceTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Fact]
    public void SumMeanAndChannelBiasGradientsMatchFiniteDifferences()
    {
        var x = GradCheck.Random(Cpu, 21, 2, 3, 5);
        var b = GradCheck.Random(Cpu, 22, 3);
        GradCheck.Check(t => F.Scale(F.Sum(F.Mul(t[0], t[0])), 0.5f), [x]);
        GradCheck.Check(t => F.Mean(F.Tanh(t[0])), [x]);
        GradCheck.Check(t => F.AddChannelBias(t[0], t[1]), [x, b]);
    }

    [Fact]
    public void SumOfManyElementsIsAccurateAndDeterministic()
    {
        var data = Enumerable.Range(0, 100_003).Select(i => (float)Math.Sin(i)).ToArray();
        var x = Tensor.FromArray(Cpu, data, data.Length);
        double exact = data.Sum(v => (double)v);
        float s1 = F.Sum(x).Item(), s2 = F.Sum(x).Item();
        Assert.Equal(s1, s2);
        Assert.True(Math.Abs(s1 - exact) < 1e-3, $"sum {s1} vs {exact}");
    }
}

[Collection("ilgpu")]
public sealed class ReduceParityTests(IlgpuFixture ilgpu)
{
    [Fact]
    public void SumBiasAndChannelSumMatchCpu()
    {
        var x = GradCheck.Random(CpuBackend.Instance, 23, 3, 4, 700);
        var bias = GradCheck.Random(CpuBackend.Instance, 24, 4);
        Parity.Check(ilgpu.Backend, [x, bias], (b, t) =>
        {
            var s = Tensor.Empty(b, 1);
            b.SumAll(t[0], s);
            var y = Tensor.Empty(b, t[0].Shape);
            b.Axpby(t[0], y, 1f, 0f);
            b.AddChannelBias(t[1], y, 3, 4, 700);
            b.AddScalar(s, 0.001f, y);
            var db = Tensor.Full(b, 1f, 4);
            b.ChannelSum(t[0], db, 3, 4, 700);
            return [s, y, db];
        }, rtol: 1e-4, atol: 1e-4);
    }
}
