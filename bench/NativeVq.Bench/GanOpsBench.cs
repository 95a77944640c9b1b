using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Kernels;

namespace NativeVq.Bench;

/// <summary>
/// The GAN's own ops at the discriminator's second layer of the 32x32 model (batch 64, 128 channels, 8x8):
/// LeakyReLU forward + backward, BatchNorm2d (training) forward + backward, and BCE-with-logits over 64 logits.
/// cpu at that size; ilgpu-cpu at batch 4 (the simulator is slow).
/// </summary>
public sealed class GanOpsBench : IBench
{
    public string Name => "ganops";

    public void Run(BenchContext ctx, JsonObject result)
    {
        result["cpu"] = Measure(ctx, CpuBackend.Instance, 64);
        using var sim = Devices.CreateIlgpuCpu();
        result["ilgpu_cpu_small"] = Measure(ctx, sim, 4);
    }

    private static JsonObject Measure(BenchContext ctx, Backend b, int n)
    {
        const int c = 128, hw = 64;
        using var scope = new TensorScope();
        var x = Tensor.Full(b, -0.5f, n, c, 8, 8);
        var y = Tensor.Empty(b, n, c, 8, 8);
        var dx = Tensor.Zeros(b, n, c, 8, 8);
        var w = Tensor.Full(b, 1f, c);
        var bias = Tensor.Zeros(b, c);
        Tensor mean = Tensor.Empty(b, c), var = Tensor.Empty(b, c), s1 = Tensor.Empty(b, c), s2 = Tensor.Empty(b, c);
        b.Axpby(Tensor.Full(b, 0.3f, n, c, 8, 8), x, 1f, 1f);
        double leaky = ctx.MedianMs(() => { b.LeakyRelu(x, y, 0.2f); b.LeakyReluBackward(x, y, dx, 0.2f); b.Synchronize(); });
        double bn = ctx.MedianMs(() =>
        {
            b.BatchNormStats(x, mean, var, n, c, hw);
            b.BatchNormForward(x, mean, var, w, bias, y, n, c, hw, 1e-5f);
            b.BatchNormBackwardReduce(x, y, mean, var, s1, s2, n, c, hw, 1e-5f);
            b.BatchNormBackwardInput(x, y, mean, var, w, s1, s2, dx, n, c, hw, 1e-5f, true);
            b.Synchronize();
        });
        var logits = Tensor.Full(b, 0.7f, n);
        var targets = Tensor.Full(b, 1f, n);
        var loss = Tensor.Empty(b, Array.Empty<int>());
        var g = Tensor.Full(b, 1f, Array.Empty<int>());
        var dl = Tensor.Zeros(b, n);
        double bce = ctx.MedianMs(() => { b.LossForward(PairLoss.BceWithLogits, logits, targets, loss); b.LossBackward(PairLoss.BceWithLogits, logits, targets, g, dl, null); b.Synchronize(); });
        double elems = (double)n * c * hw;
        return new JsonObject
        {
            ["shape"] = $"[{n},{c},8,8]",
            ["leaky_relu_fwd_bwd_ms"] = BenchContext.Round(leaky),
            ["leaky_relu_gb_s"] = BenchContext.Round(24.0 * elems / (leaky * 1e6)),
            ["batchnorm_fwd_bwd_ms"] = BenchContext.Round(bn),
            // stats reads x twice, forward x→y, backward reduce x and dy, backward input x, dy, dx read-modify-write.
            ["batchnorm_gb_s"] = BenchContext.Round(4.0 * 9 * elems / (bn * 1e6)),
            ["bce_with_logits_fwd_bwd_ms"] = BenchContext.Round(bce),
        };
    }
}
