using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Kernels;

namespace NativeVq.Bench;

/// <summary>Bandwidth of the elementwise kernels (ELU and exp forward + backward over 8M floats) on cpu; ilgpu-cpu at 64K.</summary>
public sealed class ElementwiseBench : IBench
{
    public string Name => "elementwise";

    public void Run(BenchContext ctx, JsonObject result)
    {
        result["cpu"] = Measure(ctx, CpuBackend.Instance, 8 << 20);
        using var sim = Devices.CreateIlgpuCpu();
        result["ilgpu_cpu_small"] = Measure(ctx, sim, 1 << 16);
    }

    private static JsonObject Measure(BenchContext ctx, Backend b, int n)
    {
        using var scope = new TensorScope();
        var x = Tensor.Full(b, -0.5f, n);
        var y = Tensor.Empty(b, n);
        var dx = Tensor.Zeros(b, n);
        double fwd = ctx.MedianMs(() => { b.Unary(UnaryOp.Elu, x, y); b.Synchronize(); });
        double bwd = ctx.MedianMs(() => { b.UnaryBackward(UnaryOp.Elu, x, y, y, dx); b.Synchronize(); });
        double exp = ctx.MedianMs(() => { b.Unary(UnaryOp.Exp, x, y); b.Synchronize(); });
        double expBwd = ctx.MedianMs(() => { b.UnaryBackward(UnaryOp.Exp, x, y, y, dx); b.Synchronize(); });
        return new JsonObject
        {
            ["n"] = n,
            ["elu_forward_ms"] = BenchContext.Round(fwd),
            ["elu_forward_gb_s"] = BenchContext.Round(8.0 * n / (fwd * 1e6)),
            ["elu_backward_ms"] = BenchContext.Round(bwd),
            ["elu_backward_gb_s"] = BenchContext.Round(16.0 * n / (bwd * 1e6)),
            ["exp_forward_ms"] = BenchContext.Round(exp),
            ["exp_forward_gb_s"] = BenchContext.Round(8.0 * n / (exp * 1e6)),
            ["exp_backward_ms"] = BenchContext.Round(expBwd),
            ["exp_backward_gb_s"] = BenchContext.Round(16.0 * n / (expBwd * 1e6)),
        };
    }
}
