using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Kernels;

namespace NativeVq.Bench;

/// <summary>
/// Convolution: conv 3x3 64→64 on 32x32, batch 32 (forward, forward+backward, GFLOP/s) and conv_transpose
/// k4 s2 p1 64→32, 8x8→16x16, batch 32 (forward+backward) on cpu; the ILGPU CPU simulator at a tiny shape.
/// </summary>
public sealed class ConvBench : IBench
{
    public string Name => "conv";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var cpu = CpuBackend.Instance;
        result["cpu_conv3x3_64x64_32x32_b32"] = MeasureConv(ctx, cpu, ConvGeom.Create(32, 64, 32, 32, 64, 3, 1, 1));
        result["cpu_convT4x4s2_64to32_8to16_b32"] = MeasureConvTranspose(ctx, cpu, 32, 64, 32, 8);
        using var sim = Devices.CreateIlgpuCpu();
        result["ilgpu_cpu_conv3x3_8x8_8x8_b2"] = MeasureConv(ctx, sim, ConvGeom.Create(2, 8, 8, 8, 8, 3, 1, 1));
        sim.UseTiledGemm = true; // the implicit-GEMM kernels cuda runs (a smoke run on the simulator; GPU figures: bench/gpu_check.sh)
        result["ilgpu_cpu_conv3x3_8x8_8x8_b2_tiled"] = MeasureConv(ctx, sim, ConvGeom.Create(2, 8, 8, 8, 8, 3, 1, 1));
    }

    private static JsonObject MeasureConv(BenchContext ctx, Backend b, ConvGeom g)
    {
        using var scope = new TensorScope();
        var rng = new Random(3);
        Tensor R(params int[] shape) => Tensor.FromArray(b, Enumerable.Range(0, ShapeUtil.Numel(shape)).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), shape);
        var x = R(g.N, g.Cin, g.H, g.W);
        var w = R(g.Cout, g.Cin, g.KH, g.KW);
        var bias = R(g.Cout);
        var dy = R(g.N, g.Cout, g.Hout, g.Wout);
        var y = Tensor.Empty(b, g.N, g.Cout, g.Hout, g.Wout);
        var dx = Tensor.Zeros(b, g.N, g.Cin, g.H, g.W);
        var dw = Tensor.Zeros(b, g.Cout, g.Cin, g.KH, g.KW);
        var db = Tensor.Zeros(b, g.Cout);
        void Forward() => b.Conv2dForward(x, w, bias, y, g);
        void Step()
        {
            Forward();
            b.Conv2dBackwardInput(dy, w, dx, g);
            b.Conv2dBackwardWeight(x, dy, dw, g);
            b.ChannelSum(dy, db, g.N, g.Cout, g.Hout * g.Wout);
        }
        double fwd = ctx.MedianMs(() => { Forward(); b.Synchronize(); });
        double step = ctx.MedianMs(() => { Step(); b.Synchronize(); });
        var r = new JsonObject
        {
            ["geometry"] = g.ToString(),
            ["forward_ms"] = BenchContext.Round(fwd),
            ["forward_gflops"] = BenchContext.Round(g.Flops / (fwd * 1e6), 2),
            ["fwd_bwd_ms"] = BenchContext.Round(step),
            ["fwd_bwd_gflops"] = BenchContext.Round(3 * g.Flops / (step * 1e6), 2),
        };
        // Steady-state managed allocation of one training step (the conv itself uses reusable column buffers).
        if (b is CpuBackend) r["fwd_bwd_alloc_bytes"] = BenchContext.AllocatedBytes(Step);
        return r;
    }

    private static JsonObject MeasureConvTranspose(BenchContext ctx, Backend b, int n, int cin, int cout, int h)
    {
        using var scope = new TensorScope();
        var rng = new Random(4);
        Tensor R(params int[] shape) => Tensor.FromArray(b, Enumerable.Range(0, ShapeUtil.Numel(shape)).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), shape);
        var x = R(n, cin, h, h);
        var w = R(cin, cout, 4, 4);
        var bias = R(cout);
        var dy = R(n, cout, 2 * h, 2 * h);
        x.RequiresGrad = w.RequiresGrad = bias.RequiresGrad = true;
        double fwd = ctx.MedianMs(() =>
        {
            using var s = new TensorScope();
            using var _ = Autograd.NoGrad();
            F.ConvTranspose2d(x, w, bias, 2, 1);
            b.Synchronize();
        });
        double step = ctx.MedianMs(() =>
        {
            using var s = new TensorScope();
            F.ConvTranspose2d(x, w, bias, 2, 1).Backward(dy);
            b.Synchronize();
        });
        double flops = 2.0 * n * cin * h * h * cout * 16;
        return new JsonObject
        {
            ["shape"] = $"[{n},{cin},{h},{h}] -> [{n},{cout},{2 * h},{2 * h}] k4 s2 p1",
            ["forward_ms"] = BenchContext.Round(fwd),
            ["fwd_bwd_ms"] = BenchContext.Round(step),
            ["fwd_bwd_gflops"] = BenchContext.Round(3 * flops / (step * 1e6), 2),
        };
    }
}
