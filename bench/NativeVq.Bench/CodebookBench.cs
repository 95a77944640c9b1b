using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Optim;

namespace NativeVq.Bench;

/// <summary>
/// Nearest-code argmin (N = 8192 positions, K = 512, D = 64: ms and GFLOP/s counting 2·N·K·D), one Adam step
/// over 1M parameters, the fused MSE loss forward+backward over 1M elements on cpu; the argmin on the ILGPU CPU
/// simulator at a small shape for reference, through the naive and the tiled kernel; the EMA codebook update
/// (Backend.EmaCodebookUpdate) on cpu at the trainer's default size (batch 32, D = 32, 8×8 latents, K = 128) and on the simulator at a small one.
/// </summary>
public sealed class CodebookBench : IBench
{
    public string Name => "codebook";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var cpu = CpuBackend.Instance;
        result["cpu_argmin_8192x512x64"] = Argmin(ctx, cpu, 8, 64, 32, 32, 512);
        result["cpu_adam_1m"] = Adam(ctx, cpu, 1 << 20);
        result["cpu_mse_fwd_bwd_1m"] = Mse(ctx, cpu, 1 << 20);
        result["cpu_ema_update_32x32x8x8_k128"] = EmaUpdate(ctx, cpu, 32, 32, 8, 8, 128); // the trainer defaults
        using var sim = Devices.CreateIlgpuCpu();
        result["ilgpu_cpu_argmin_256x64x16"] = Argmin(ctx, sim, 1, 16, 16, 16, 64);
        result["ilgpu_cpu_ema_update_256x16_k64"] = EmaUpdate(ctx, sim, 1, 16, 16, 16, 64);
        // The tiled kernel (TiledCodebookKernels) on the simulator: a smoke run of the cuda path, not a speed figure.
        sim.UseTiledGemm = true;
        result["ilgpu_cpu_argmin_tiled_256x64x16"] = Argmin(ctx, sim, 1, 16, 16, 16, 64);
    }

    private static float[] Random(int seed, int n)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)rng.NextDouble() * 2 - 1;
        return a;
    }

    private static JsonObject Argmin(BenchContext ctx, Backend b, int n, int d, int h, int w, int k)
    {
        using var scope = new TensorScope();
        var z = Tensor.FromArray(b, Random(1, n * d * h * w), n, d, h, w);
        var cb = Tensor.FromArray(b, Random(2, k * d), k, d);
        var idx = Tensor.Empty(b, DType.I32, n, h, w);
        double ms = ctx.MedianMs(() => { b.NearestCode(z, cb, idx, n, d, h * w, k); b.Synchronize(); });
        double flops = 2.0 * n * h * w * k * d;
        return new JsonObject
        {
            ["positions"] = n * h * w, ["k"] = k, ["d"] = d,
            ["ms"] = BenchContext.Round(ms), ["gflops"] = BenchContext.Round(flops / (ms * 1e6), 2),
        };
    }

    /// <summary>The EMA update in place, repeated (the state drifts, the work does not); scan bytes as the op's profiler counts them.</summary>
    private static JsonObject EmaUpdate(BenchContext ctx, Backend b, int n, int d, int h, int w, int k)
    {
        using var scope = new TensorScope();
        var z = Tensor.FromArray(b, Random(7, n * d * h * w), n, d, h, w);
        var idx = Tensor.FromArray(b, Enumerable.Range(0, n * h * w).Select(p => p * 7919 % k).ToArray(), n, h, w);
        var size = Tensor.Full(b, 1f, k);
        var embed = Tensor.FromArray(b, Random(8, k * d), k, d);
        var book = Tensor.Zeros(b, k, d);
        double ms = ctx.MedianMs(() => { b.EmaCodebookUpdate(z, idx, size, embed, book, 0.99f, 1e-5f); b.Synchronize(); });
        double positions = (double)n * h * w, bytes = 4.0 * (k * d * positions + positions * d + 5.0 * k * d);
        return new JsonObject
        {
            ["positions"] = n * h * w, ["k"] = k, ["d"] = d,
            // The kernels' scan reads the codes K·D times; the cpu twin reads them once, so no rate is derived from it here.
            ["ms"] = BenchContext.Round(ms), ["scan_mb"] = BenchContext.Round(bytes / 1e6, 2),
        };
    }

    private static JsonObject Adam(BenchContext ctx, Backend b, int n)
    {
        var p = Tensor.FromArray(b, Random(3, n), n);
        p.RequiresGrad = true;
        F.Accumulate(p, Tensor.FromArray(b, Random(4, n), n));
        using var adam = new Adam([p], lr: 1e-4f);
        double ms = ctx.MedianMs(() => { adam.Step(); b.Synchronize(); });
        var r = new JsonObject { ["params"] = n, ["ms"] = BenchContext.Round(ms), ["gb_per_s"] = BenchContext.Round(28.0 * n / (ms * 1e6), 2) };
        p.Grad!.Dispose();
        p.Dispose();
        return r;
    }

    private static JsonObject Mse(BenchContext ctx, Backend b, int n)
    {
        using var scope = new TensorScope();
        var x = Tensor.FromArray(b, Random(5, n), n);
        var t = Tensor.FromArray(b, Random(6, n), n);
        var y = Tensor.Empty(b, 1);
        var g = Tensor.Full(b, 1f, 1);
        var dx = Tensor.Zeros(b, n);
        double ms = ctx.MedianMs(() => { b.LossForward(PairLoss.Mse, x, t, y); b.LossBackward(PairLoss.Mse, x, t, g, dx, null); b.Synchronize(); });
        return new JsonObject { ["elements"] = n, ["ms"] = BenchContext.Round(ms) };
    }
}
