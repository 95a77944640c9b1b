using NativeVq.Cpu;
using NativeVq.Nn;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

/// <summary>
/// BatchNorm2d against a float64 reference written here (no golden case: PyTorch is not available to generate one).
/// The reference follows torch.nn.BatchNorm2d: biased batch variance to normalise, unbiased for running_var.
/// </summary>
public sealed class BatchNormTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    private static (double[] Y, double[] Mean, double[] Var) Reference(float[] x, float[] w, float[] b, int n, int c, int hw, float eps)
    {
        var y = new double[x.Length];
        var mean = new double[c];
        var var = new double[c];
        for (int ch = 0; ch < c; ch++)
        {
            double s = 0, sq = 0;
            for (int i = 0; i < n; i++) for (int p = 0; p < hw; p++) s += x[(i * c + ch) * hw + p];
            mean[ch] = s / (n * hw);
            for (int i = 0; i < n; i++) for (int p = 0; p < hw; p++) sq += Math.Pow(x[(i * c + ch) * hw + p] - mean[ch], 2);
            var[ch] = sq / (n * hw);
            for (int i = 0; i < n; i++)
                for (int p = 0; p < hw; p++)
                {
                    int k = (i * c + ch) * hw + p;
                    y[k] = (x[k] - mean[ch]) / Math.Sqrt(var[ch] + eps) * w[ch] + b[ch];
                }
        }
        return (y, mean, var);
    }

    [Fact]
    public void TrainingNormalisesWithBatchStatisticsAndUpdatesRunningOnes()
    {
        int n = 3, c = 4, h = 5, w = 6;
        var bn = new BatchNorm2d(Cpu, c);
        var wv = new[] { 1.5f, -0.5f, 2f, 0.7f };
        var bv = new[] { 0.1f, -0.2f, 0.3f, 0f };
        Cpu.Upload(wv, bn.Weight.Memory);
        Cpu.Upload(bv, bn.Bias.Memory);
        var x = GradCheck.Random(Cpu, 81, -2f, 3f, n, c, h, w);
        var xs = x.ToArray();
        var y = bn.Forward(x).ToArray();
        var (ry, rm, rv) = Reference(xs, wv, bv, n, c, h * w, 1e-5f);
        for (int i = 0; i < y.Length; i++) Assert.True(Math.Abs(y[i] - ry[i]) < 1e-5, $"y[{i}] {y[i]} vs {ry[i]}");
        var runMean = bn.RunningMean.ToArray();
        var runVar = bn.RunningVar.ToArray();
        int m = n * h * w;
        for (int ch = 0; ch < c; ch++)
        {
            Assert.True(Math.Abs(runMean[ch] - 0.1 * rm[ch]) < 1e-6, $"running_mean[{ch}]");
            Assert.True(Math.Abs(runVar[ch] - (0.9 + 0.1 * rv[ch] * m / (m - 1))) < 1e-6, $"running_var[{ch}]");
        }
    }

    [Fact]
    public void EvalUsesRunningStatisticsAndLeavesThemAlone()
    {
        int c = 2;
        var bn = new BatchNorm2d(Cpu, c);
        Cpu.Upload(new[] { 0.5f, -1f }, bn.RunningMean.Memory);
        Cpu.Upload(new[] { 4f, 0.25f }, bn.RunningVar.Memory);
        bn.Eval();
        var x = GradCheck.Random(Cpu, 82, 2, c, 3, 3);
        var xs = x.ToArray();
        var y = bn.Forward(x).ToArray();
        for (int i = 0; i < xs.Length; i++)
        {
            int ch = i / 9 % c;
            double r = (xs[i] - (ch == 0 ? 0.5 : -1.0)) / Math.Sqrt((ch == 0 ? 4.0 : 0.25) + 1e-5);
            Assert.True(Math.Abs(y[i] - r) < 1e-5, $"y[{i}] {y[i]} vs {r}");
        }
        Assert.Equal(new[] { 0.5f, -1f }, bn.RunningMean.ToArray());
        Assert.Equal(new[] { 4f, 0.25f }, bn.RunningVar.ToArray());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GradientsMatchFiniteDifferences(bool training)
    {
        var x = GradCheck.Random(Cpu, 83, -1f, 2f, 3, 2, 3, 4);
        var wt = GradCheck.Random(Cpu, 84, 0.5f, 1.5f, 2);
        var bt = GradCheck.Random(Cpu, 85, 2);
        var rm = Tensor.FromArray(Cpu, new[] { 0.2f, -0.1f }, 2);
        var rv = Tensor.FromArray(Cpu, new[] { 0.8f, 1.3f }, 2);
        // Training updates the running buffers on every call, but its output does not read them.
        GradCheck.Check(t => F.BatchNorm2d(t[0], t[1], t[2], rm, rv, training), [x, wt, bt]);
    }

    [Fact]
    public void RejectsOneValuePerChannelInTraining()
    {
        var bn = new BatchNorm2d(Cpu, 3);
        var ex = Assert.Throws<ArgumentException>(() => bn.Forward(Tensor.Zeros(Cpu, 1, 3, 1, 1)));
        Assert.Contains("more than one value per channel", ex.Message);
    }

    [Fact]
    public void RunningStatisticsAreInTheStateDictUnderPyTorchNames()
    {
        var names = new BatchNorm2d(Cpu, 3).StateDict().Select(p => p.Name).ToArray();
        Assert.Equal(new[] { "weight", "bias", "running_mean", "running_var" }, names);
    }

    [Fact]
    public void IsDeterministicOverLargeChannels()
    {
        var x = GradCheck.Random(Cpu, 86, 64, 8, 16, 16);
        float[] Run()
        {
            var bn = new BatchNorm2d(Cpu, 8);
            x.RequiresGrad = true;
            x.Grad = null;
            var y = bn.Forward(x);
            y.Backward(GradCheck.Random(Cpu, 87, y.Shape));
            return y.ToArray().Concat(x.Grad!.ToArray()).Concat(bn.Weight.Grad!.ToArray()).Concat(bn.RunningVar.ToArray()).ToArray();
        }
        Assert.Equal(Run(), Run());
    }
}
