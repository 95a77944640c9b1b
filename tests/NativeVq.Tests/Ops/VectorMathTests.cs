using NativeVq.Cpu;

namespace NativeVq.Tests.Ops;

/// <summary>The float32 vector exp / sigmoid / ELU of src/NativeVq.Runtime/Cpu/VectorMath.cs against float64.</summary>
public sealed class VectorMathTests
{
    [Fact]
    public void ExpIsWithinAFewUlpOverTheWholeRange()
    {
        var x = Enumerable.Range(0, 20001).Select(i => -87f + 175f * i / 20000f).ToArray();
        var y = new float[x.Length];
        VectorMath.Exp(x, y);
        for (int i = 0; i < x.Length; i++)
        {
            double want = Math.Exp(x[i]);
            Assert.True(Math.Abs(y[i] - want) <= 3e-7 * want, $"exp({x[i]:R}) = {y[i]:R}, want {want:R}");
        }
    }

    [Fact]
    public void ExtremesClampInsteadOfOverflowingToNaN()
    {
        float[] x = [-1000f, -88f, 0f, 89f, 1000f, float.NegativeInfinity];
        var y = new float[x.Length];
        VectorMath.Exp(x, y);
        Assert.All(y, v => Assert.True(float.IsFinite(v) && v > 0f));
        Assert.Equal(1f, y[2]);
        VectorMath.Sigmoid(x, y);
        Assert.Equal(0f, y[0], 1e-30f);
        Assert.Equal(0.5f, y[2]);
        Assert.Equal(1f, y[4]);
    }

    [Fact]
    public void SigmoidAndEluMatchFloat64()
    {
        var x = Enumerable.Range(0, 4001).Select(i => -20f + 40f * i / 4000f).ToArray();
        var s = new float[x.Length];
        var e = new float[x.Length];
        VectorMath.Sigmoid(x, s);
        VectorMath.Apply(VectorMath.Fn.Elu, x, e);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.True(Math.Abs(s[i] - 1 / (1 + Math.Exp(-x[i]))) <= 1e-7, $"sigmoid({x[i]})");
            double elu = x[i] > 0 ? x[i] : Math.Exp(x[i]) - 1;
            Assert.True(Math.Abs(e[i] - elu) <= 2e-7 * (1 + Math.Abs(elu)), $"elu({x[i]})");
        }
    }

    [Fact]
    public void AnElementsValueDoesNotDependOnItsPositionOrTheArrayLength()
    {
        var rng = new Random(3);
        var x = Enumerable.Range(0, 37).Select(_ => rng.NextSingle() * 10 - 5).ToArray();
        foreach (var fn in Enum.GetValues<VectorMath.Fn>())
        {
            var whole = new float[x.Length];
            VectorMath.Apply(fn, x, whole);
            for (int i = 0; i < x.Length; i++)
            {
                var one = new float[1];
                VectorMath.Apply(fn, x.AsSpan(i, 1), one);
                Assert.Equal(whole[i], one[0]);
            }
        }
    }
}
