using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Models;

namespace NativeVq.Bench;

/// <summary>
/// GAN + encoder training on cpu at batch 64, 32x32 grayscale, z = 100, width 64 (the DCGAN defaults): steps/s of the
/// exact step `train gan` runs (D, G and E updates), the conv FLOPs of one step as the profiler counts them
/// (forward, input and weight gradients of every conv and transposed conv), the effective GFLOP/s, and the same
/// run's 512³ SGEMM GFLOP/s for the ratio (the target: ≥ 50 %). There is no PyTorch figure for this model.
/// </summary>
public sealed class GanBench : IBench
{
    public string Name => "gan";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var backend = new CpuBackend();
        const int batch = 64;
        var cfg = new GanConfig();
        var model = new Gan(backend, cfg, seed: 1);
        var adams = GanTrainer.CreateOptimizers(model, 2e-4f, 0.5f);
        var rng = new Rng(7);
        var x = Enumerable.Range(0, batch * 32 * 32).Select(_ => rng.Uniform(-1, 1)).ToArray();
        var z = Enumerable.Range(0, batch * cfg.LatentDim).Select(_ => rng.Normal()).ToArray();

        void Step()
        {
            using var scope = new TensorScope();
            GanTrainer.TrainStep(model, adams, Tensor.FromArray(backend, x, batch, 1, 32, 32), Tensor.FromArray(backend, z, batch, cfg.LatentDim), 0f);
        }

        double stepMs = ctx.MedianMs(Step, minSeconds: 4, warmupSeconds: 3);
        var (convFlops, allFlops) = CountFlops(Step);
        var breakdown = BenchContext.KernelBreakdown(Step);
        double sgemm = SgemmGflops(ctx, backend);
        double convGflops = convFlops / (stepMs * 1e6);
        result["batch"] = batch;
        result["config"] = "32x32x1, z 100, width 64";
        result["parameters"] = model.ParameterCount();
        result["train_step_ms"] = BenchContext.Round(stepMs, 2);
        result["train_steps_per_s"] = BenchContext.Round(1000 / stepMs, 2);
        result["conv_gflop_per_step"] = BenchContext.Round(convFlops / 1e9, 3);
        result["all_kernels_gflop_per_step"] = BenchContext.Round(allFlops / 1e9, 3);
        result["effective_conv_gflops"] = BenchContext.Round(convGflops, 2);
        result["sgemm_512_gflops_same_run"] = BenchContext.Round(sgemm, 2);
        result["ratio_vs_sgemm"] = BenchContext.Round(convGflops / sgemm, 3);
        result["kernel_ms_one_step"] = breakdown;
        foreach (var a in adams) a.Dispose();
    }

    /// <summary>FLOPs the profiler records for one call: conv kernels (names conv*) and all kernels.</summary>
    private static (double Conv, double All) CountFlops(Action run)
    {
        bool was = Profiler.Enabled;
        Profiler.Enable();
        Profiler.Clear();
        run();
        var events = Profiler.Snapshot();
        Profiler.Clear();
        if (!was) Profiler.Disable();
        return (events.Where(e => e.Name.StartsWith("conv", StringComparison.Ordinal)).Sum(e => e.Flops), events.Sum(e => e.Flops));
    }

    /// <summary>512³ SGEMM as GemmBench measures it ("cpu_512"), in this run so the ratio compares like with like.</summary>
    private static double SgemmGflops(BenchContext ctx, Backend b)
    {
        var spec = new GemmSpec(false, false, 512, 512, 512);
        var rng = new Random(1);
        using var scope = new TensorScope();
        var a = Tensor.FromArray(b, Enumerable.Range(0, 512 * 512).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), 512 * 512);
        var bm = Tensor.FromArray(b, Enumerable.Range(0, 512 * 512).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), 512 * 512);
        var c = Tensor.Empty(b, 512 * 512);
        double ms = ctx.MedianMs(() => { b.Gemm(spec, a, bm, c); b.Synchronize(); });
        return spec.Flops / (ms * 1e6);
    }
}
