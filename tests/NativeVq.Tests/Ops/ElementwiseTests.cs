using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class ElementwiseTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    [InlineData("relu")]
    [InlineData("elu")]
    [InlineData("sigmoid")]
    [InlineData("tanh")]
    [InlineData("exp")]
    public void UnaryGradientsMatchFiniteDifferences(string op)
    {
        Func<Tensor, Tensor> f = op switch { "relu" => F.Relu, "elu" => F.Elu, "sigmoid" => F.Sigmoid, "exp" => F.Exp, _ => F.Tanh };
        var x = GradCheck.RandomAwayFromZero(Cpu, 3, 0.05f, 2, 3, 5, 7);
        GradCheck.Check(t => f(t[0]), [x]);
    }

    /// <summary>No golden case exists for exp (PyTorch is not installed where it was added): a float64 reference instead.</summary>
    [Fact]
    public void ExpAndItsGradientMatchAFloat64Reference()
    {
        var x = GradCheck.Random(Cpu, 21, -8f, 8f, 3, 37);
        x.RequiresGrad = true;
        var y = F.Exp(x);
        F.Sum(F.Mul(y, GradCheck.Random(Cpu, 22, 3, 37))).Backward();
        var xs = x.ToArray();
        var up = GradCheck.Random(Cpu, 22, 3, 37).ToArray();
        var ys = y.ToArray();
        var gs = x.Grad!.ToArray();
        for (int i = 0; i < xs.Length; i++)
        {
            double e = Math.Exp(xs[i]);
            Assert.True(Math.Abs(ys[i] - e) <= 1e-6 * e, $"exp({xs[i]}) = {ys[i]}, float64 {e}");
            Assert.True(Math.Abs(gs[i] - e * up[i]) <= 1e-6 * e + 1e-7, $"d exp({xs[i]}) = {gs[i]}, float64 {e * up[i]}");
        }
    }

    [Fact]
    public void BinaryAndScaleGradientsMatchFiniteDifferences()
    {
        var a = GradCheck.Random(Cpu, 1, 3, 4, 5);
        var b = GradCheck.Random(Cpu, 2, 3, 4, 5);
        GradCheck.Check(t => F.Add(F.Mul(t[0], t[1]), F.Scale(F.Sub(t[0], t[1]), 0.5f)), [a, b]);
    }

    [Theory]
    [InlineData("act_relu", "relu")]
    [InlineData("act_elu", "elu")]
    [InlineData("act_sigmoid", "sigmoid")]
    public void ActivationsMatchGolden(string name, string op)
    {
        var g = new GoldenCase(name);
        var x = g.Load(Cpu, "x", requiresGrad: true);
        var y = op switch { "relu" => F.Relu(x), "elu" => F.Elu(x), _ => F.Sigmoid(x) };
        var outName = g.T.Keys.Single(k => g.T[k].Role == "output");
        g.AssertClose(outName, y);
        y.Backward(g.Load(Cpu, "upstream:" + outName));
        g.AssertGrad("x", x);
    }

    [Fact]
    public void MatmulGradientsMatchFiniteDifferences()
    {
        var a = GradCheck.Random(Cpu, 4, 3, 5, 7);
        var b = GradCheck.Random(Cpu, 5, 3, 7, 2);
        GradCheck.Check(t => F.Matmul(t[0], t[1]), [a, b]);
        var c = GradCheck.Random(Cpu, 6, 1, 9);
        var d = GradCheck.Random(Cpu, 7, 9, 4);
        GradCheck.Check(t => F.Matmul(t[0], t[1]), [c, d]);
    }

    [Fact]
    public void ReshapePassesGradientsThrough()
    {
        var x = GradCheck.Random(Cpu, 8, 2, 6);
        GradCheck.Check(t => F.Tanh(F.Reshape(t[0], 3, -1)), [x]);
    }

    /// <summary>
    /// An activation's value must not depend on where the element sits (vector body or tail): the fast restorer
    /// evaluates single positions and relies on matching the batch kernels bit for bit.
    /// </summary>
    [Theory]
    [InlineData(UnaryOp.Elu)]
    [InlineData(UnaryOp.Relu)]
    [InlineData(UnaryOp.Sigmoid)]
    [InlineData(UnaryOp.Tanh)]
    [InlineData(UnaryOp.Exp)]
    public void ActivationValuesDoNotDependOnTheirPositionInTheArray(UnaryOp op)
    {
        var x = GradCheck.Random(Cpu, 31, -4f, 4f, 37).ToArray();
        var all = new float[37];
        NativeVq.Cpu.CpuElementwise.Unary(op, x, all);
        for (int i = 0; i < x.Length; i++)
        {
            var one = new float[1];
            NativeVq.Cpu.CpuElementwise.Unary(op, x.AsSpan(i, 1), one);
            Assert.Equal(BitConverter.SingleToInt32Bits(all[i]), BitConverter.SingleToInt32Bits(one[0]));
        }
    }
}
