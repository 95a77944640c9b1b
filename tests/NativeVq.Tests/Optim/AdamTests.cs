using NativeVq.Cpu;
using NativeVq.Optim;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Optim;

public sealed class AdamTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Fact]
    public void ThreeStepsMatchGolden()
    {
        var gc = new GoldenCase("adam");
        var pr = gc.Params;
        var betas = pr.GetProperty("betas").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
        var p = gc.Load(Cpu, "param_init", requiresGrad: true);
        using var adam = new Adam([p], (float)pr.GetProperty("lr").GetDouble(), betas[0], betas[1], (float)pr.GetProperty("eps").GetDouble(),
            (float)pr.GetProperty("weight_decay").GetDouble());
        int steps = pr.GetProperty("steps").GetInt32();
        for (int t = 1; t <= steps; t++)
        {
            adam.ZeroGrad();
            using (var g = gc.Load(Cpu, $"grad_step{t}")) F.Accumulate(p, g);
            adam.Step();
            Assert.Equal(t, adam.StepCount);
            gc.AssertClose($"param_step{t}", p);
            gc.AssertClose($"exp_avg_step{t}", adam.State[0].M);
            gc.AssertClose($"exp_avg_sq_step{t}", adam.State[0].V);
        }
    }

    [Fact]
    public void WeightDecayAddsL2ToTheGradientAndParamsWithoutGradAreSkipped()
    {
        var p = Tensor.FromArray(Cpu, new[] { 1f, -2f, 0.5f }, 3);
        var q = Tensor.FromArray(Cpu, new[] { 7f }, 1);
        p.RequiresGrad = q.RequiresGrad = true;
        using var adam = new Adam([p, q], lr: 0.1f, weightDecay: 0.01f);
        F.Accumulate(p, Tensor.FromArray(Cpu, new[] { 0.3f, 0f, -1f }, 3));
        adam.Step();
        // Reference in double: g' = g + wd·p, first step → p −= lr · m̂ / (sqrt(v̂) + eps) = lr · sign(g') (nearly).
        var expected = new[] { 1.0, -2.0, 0.5 }.Zip(new[] { 0.3, 0.0, -1.0 }, (pv, gv) =>
        {
            double g = gv + 0.01 * pv, m = 0.1 * g, v = 0.001 * g * g;
            return pv - 0.1 / 0.1 * m / (Math.Sqrt(v) / Math.Sqrt(0.001) + 1e-8);
        }).ToArray();
        var got = p.ToArray();
        for (int i = 0; i < 3; i++) Assert.True(Math.Abs(got[i] - expected[i]) < 1e-6, $"{i}: {got[i]} vs {expected[i]}");
        Assert.Equal(7f, q.ToArray()[0]);
        Assert.Equal(new[] { 1, 0 }, adam.ParameterSteps);
    }

    [Fact]
    public void StateSurvivesScopesAndRestores()
    {
        var p = GradCheck.Random(Cpu, 71, 5);
        p.RequiresGrad = true;
        var p2 = Tensor.FromArray(Cpu, p.ToArray(), 5);
        p2.RequiresGrad = true;
        using var a1 = new Adam([p], lr: 0.01f);
        using (new TensorScope())
        {
            F.Accumulate(p, GradCheck.Random(Cpu, 72, 5));
            a1.Step();
        }
        Assert.False(a1.State[0].M.IsDisposed);
        using var a2 = new Adam([p2], lr: 0.01f);
        p2.Backend.Upload(p.ToArray(), p2.Memory);
        a2.RestoreState(a1.StepCount, a1.State.Select(s => (s.M.ToArray(), s.V.ToArray())).ToList());
        var g = GradCheck.Random(Cpu, 73, 5);
        F.Accumulate(p2, g);
        a1.Step(); // p still holds the first gradient: use the same one for both
        a2.ZeroGrad(); F.Accumulate(p2, p.Grad!);
        a2.Step();
        Assert.Equal(p.ToArray(), p2.ToArray());
        Assert.Equal(2, a2.StepCount);
    }

    [Fact]
    public void ClipGlobalNormScalesOnlyAboveTheLimit()
    {
        var a = Tensor.FromArray(Cpu, new[] { 1f, 2f }, 2);
        var b = Tensor.FromArray(Cpu, new[] { 2f }, 1);
        var c = Tensor.FromArray(Cpu, new[] { 5f }, 1); // no gradient: ignored
        a.RequiresGrad = b.RequiresGrad = true;
        F.Accumulate(a, Tensor.FromArray(Cpu, new[] { 3f, 0f }, 2));
        F.Accumulate(b, Tensor.FromArray(Cpu, new[] { 4f }, 1));
        float norm = GradClip.ClipGlobalNorm([a, b, c], 10f);
        Assert.Equal(5f, norm);
        Assert.Equal(new[] { 3f, 0f }, a.Grad!.ToArray());
        norm = GradClip.ClipGlobalNorm([a, b, c], 1f);
        Assert.Equal(5f, norm);
        var ga = a.Grad!.ToArray(); var gb = b.Grad!.ToArray();
        double after = Math.Sqrt(ga[0] * ga[0] + ga[1] * ga[1] + gb[0] * gb[0]);
        Assert.True(Math.Abs(after - 1.0) < 1e-5, $"norm after clipping {after}");
        Assert.True(Math.Abs(ga[0] / gb[0] - 0.75) < 1e-6);
    }

    [Fact]
    public void SumSquaresIsDeterministicAndAccurate()
    {
        var x = GradCheck.Random(Cpu, 74, 100_003);
        var y = Tensor.Zeros(Cpu, 3);
        Cpu.SumSquares(x, y, 1);
        var v = y.ToArray();
        double exact = x.ToArray().Sum(t => (double)t * t);
        Assert.Equal(0f, v[0]);
        Assert.True(Math.Abs(v[1] - exact) < 1e-6 * exact);
    }
}
