using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Kernels;

namespace NativeVq.Bench;

/// <summary>SGEMM 512³ GFLOP/s on cpu; the ILGPU CPU simulator at 64³ for reference.</summary>
public sealed class GemmBench : IBench
{
    public string Name => "gemm";

    public void Run(BenchContext ctx, JsonObject result)
    {
        result["cpu_512"] = Measure(ctx, CpuBackend.Instance, 512);
        using var sim = Devices.CreateIlgpuCpu();
        result["ilgpu_cpu_64"] = Measure(ctx, sim, 64);
    }

    private static JsonObject Measure(BenchContext ctx, Backend b, int n)
    {
        using var scope = new TensorScope();
        var rng = new Random(1);
        var data = Enumerable.Range(0, n * n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var a = Tensor.FromArray(b, data, n, n);
        var bm = Tensor.FromArray(b, data, n, n);
        var c = Tensor.Empty(b, n, n);
        var spec = new GemmSpec(false, false, n, n, n);
        double ms = ctx.MedianMs(() => { b.Gemm(spec, a, bm, c); b.Synchronize(); });
        return new JsonObject { ["n"] = n, ["ms"] = BenchContext.Round(ms), ["gflops"] = BenchContext.Round(spec.Flops / (ms * 1e6), 2) };
    }
}
