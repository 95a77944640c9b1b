using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>The LeakyReLU, BCE-with-logits and BatchNorm ILGPU kernels on the CPU accelerator against the cpu backend.</summary>
[Collection("ilgpu")]
public sealed class GanOpsParityTests(IlgpuFixture ilgpu)
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Fact]
    public void LeakyReluForwardAndBackward()
    {
        var x = GradCheck.Random(Cpu, 91, -3f, 3f, 2, 3, 17);
        Parity.Check(ilgpu.Backend, [x], (b, t) =>
        {
            var y = Tensor.Empty(b, t[0].Shape);
            b.LeakyRelu(t[0], y, 0.2f);
            var dx = Tensor.Full(b, 0.5f, t[0].Shape);
            b.LeakyReluBackward(t[0], y, dx, 0.2f);
            return [y, dx];
        });
    }

    [Fact]
    public void BceWithLogitsForwardAndBackward()
    {
        var x = GradCheck.Random(Cpu, 92, -40f, 40f, 3, 700); // 2100 elements: three blocks; ±40 covers both exp branches
        var t = GradCheck.Random(Cpu, 93, 0f, 1f, 3, 700);
        Parity.Check(ilgpu.Backend, [x, t], (b, a) =>
        {
            var y = Tensor.Empty(b, Array.Empty<int>());
            b.LossForward(PairLoss.BceWithLogits, a[0], a[1], y);
            var g = Tensor.Full(b, 1.7f, Array.Empty<int>());
            var dx = Tensor.Full(b, 0.1f, a[0].Shape);
            var dt = Tensor.Full(b, -0.1f, a[0].Shape);
            b.LossBackward(PairLoss.BceWithLogits, a[0], a[1], g, dx, dt);
            return [y, dx, dt];
        });
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BatchNormForwardAndBackward(bool training)
    {
        int n = 3, c = 5, hw = 7 * 6;
        var x = GradCheck.Random(Cpu, 94, -1f, 3f, n, c, 7, 6);
        var dy = GradCheck.Random(Cpu, 95, n, c, 7, 6);
        var w = GradCheck.Random(Cpu, 96, 0.5f, 1.5f, c);
        var bias = GradCheck.Random(Cpu, 97, c);
        var rv = GradCheck.Random(Cpu, 98, 0.5f, 2f, c);
        Parity.Check(ilgpu.Backend, [x, dy, w, bias, rv], (b, t) =>
        {
            var mean = Tensor.Empty(b, c);
            var var = Tensor.Empty(b, c);
            if (training) b.BatchNormStats(t[0], mean, var, n, c, hw);
            else { b.Fill(mean, 0.3f); b.Axpby(t[4], var, 1f, 0f); }
            var y = Tensor.Empty(b, t[0].Shape);
            b.BatchNormForward(t[0], mean, var, t[2], t[3], y, n, c, hw, 1e-5f);
            var sumDy = Tensor.Empty(b, c);
            var sumDyXhat = Tensor.Empty(b, c);
            b.BatchNormBackwardReduce(t[0], t[1], mean, var, sumDy, sumDyXhat, n, c, hw, 1e-5f);
            var dx = Tensor.Full(b, 0.25f, t[0].Shape);
            b.BatchNormBackwardInput(t[0], t[1], mean, var, t[2], sumDy, sumDyXhat, dx, n, c, hw, 1e-5f, training);
            return [mean, var, y, sumDy, sumDyXhat, dx];
        }, rtol: 1e-4, atol: 1e-4);
    }
}
