using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Optim;

namespace NativeVq.Bench;

/// <summary>
/// Compute efficiency at the real sizes of issue 12 (goal 3) on cpu: a PixelSNAIL training step (Larger preset,
/// C = 128, 16x16 codes, K = 256, batch 32) and a VQ-VAE training step (256x256 RGB, batch 16), each as
/// counted FLOPs / step time, against this bench's own SGEMM 512³ figure measured in the same run, the two
/// interleaved (SGEMM, step, SGEMM, step, ...) because the machine's speed drifts. FLOPs are the sum of the
/// profiler's per-kernel FLOPs over one profiled step (forward, backward and Adam). "kernels" lists the kernels
/// that take the most time in that profiled step with their own GFLOP/s: what holds the step below the GEMM.
/// Random weights and inputs; the figures are speed, not quality.
/// </summary>
public sealed class EfficiencyBench : IBench
{
    public string Name => "efficiency_real";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var be = CpuBackend.Instance;
        result["prior_train_16x16_c128_b32"] = Measure(ctx, PriorStep(be));
        result["vqvae_train_256_rgb_b16"] = Measure(ctx, VqVaeStep(be));
    }

    private static JsonObject Measure(BenchContext ctx, (string Config, Action Step) model)
    {
        int rounds = ctx.Quick ? 1 : 3, steps = ctx.Quick ? 1 : 3;
        model.Step();   // warm-up: buffer pool, JIT tier 0
        var flopsAndKernels = Profile(model.Step);
        var gemm = new List<double>();
        var stepMs = new List<double>();
        for (int r = 0; r < rounds; r++)
        {
            gemm.Add(Sgemm512Gflops(ctx));
            for (int s = 0; s < steps; s++)
            {
                var sw = Stopwatch.StartNew();
                model.Step();
                stepMs.Add(sw.Elapsed.TotalMilliseconds);
            }
        }
        double flops = flopsAndKernels.Flops, ms = Median(stepMs), sgemm = Median(gemm);
        double gflops = flops / (ms * 1e6);
        return new JsonObject
        {
            ["config"] = model.Config,
            ["gflop_per_step"] = BenchContext.Round(flops / 1e9, 2),
            ["step_ms"] = BenchContext.Round(ms, 1),
            ["step_ms_all"] = new JsonArray(stepMs.Select(v => (JsonNode)BenchContext.Round(v, 1)).ToArray()),
            ["effective_gflops"] = BenchContext.Round(gflops, 1),
            ["sgemm_512_gflops"] = BenchContext.Round(sgemm, 1),
            ["sgemm_512_gflops_all"] = new JsonArray(gemm.Select(v => (JsonNode)BenchContext.Round(v, 1)).ToArray()),
            ["ratio_to_sgemm"] = BenchContext.Round(gflops / sgemm, 3),
            ["kernels"] = flopsAndKernels.Kernels,
        };
    }

    private static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);

    /// <summary>SGEMM 512³ NN, both cores: the "bench's own SGEMM figure" the step is compared with.</summary>
    private static double Sgemm512Gflops(BenchContext ctx)
    {
        var spec = new GemmSpec(false, false, 512, 512, 512);
        var rng = new Random(1);
        var a = Enumerable.Range(0, 512 * 512).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var b = Enumerable.Range(0, 512 * 512).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var c = new float[512 * 512];
        double ms = ctx.MedianMs(() => CpuGemm.Sgemm(spec, a, b, c), minSeconds: ctx.Quick ? 0.2 : 1.0, warmupSeconds: 0.3);
        return spec.Flops / (ms * 1e6);
    }

    /// <summary>Counted FLOPs of one profiled step and its kernels by total time (top 10, the rest summed).</summary>
    private static (double Flops, JsonObject Kernels) Profile(Action step)
    {
        bool was = Profiler.Enabled;
        Profiler.Enable();
        Profiler.Clear();
        var sw = Stopwatch.StartNew();
        step();
        double wallMs = sw.Elapsed.TotalMilliseconds;
        var events = Profiler.Snapshot();
        Profiler.Clear();
        if (!was) Profiler.Disable();
        double tickMs = 1000.0 / Stopwatch.Frequency;
        var groups = events.GroupBy(e => e.Name)
            .Select(g => (Name: g.Key, Ms: g.Sum(e => e.Ticks) * tickMs, Flops: g.Sum(e => e.Flops), Calls: g.Count()))
            .OrderByDescending(g => g.Ms).ToList();
        var node = new JsonObject { ["(profiled step wall ms)"] = BenchContext.Round(wallMs, 1) };
        foreach (var g in groups.Take(10))
            node[g.Name] = new JsonObject
            {
                ["ms"] = BenchContext.Round(g.Ms, 1),
                ["share"] = BenchContext.Round(g.Ms / wallMs, 3),
                ["gflop"] = BenchContext.Round(g.Flops / 1e9, 3),
                ["gflops"] = BenchContext.Round(g.Flops / (g.Ms * 1e6), 1),
                ["calls"] = g.Calls,
            };
        node["(others ms)"] = BenchContext.Round(groups.Skip(10).Sum(g => g.Ms), 1);
        // The same by kernel and operand shapes: which layer of the model a slow kernel is.
        var byShape = new JsonObject();
        foreach (var g in events.GroupBy(e => e.Name + " " + e.Shapes)
                     .Select(g => (Key: g.Key, Ms: g.Sum(e => e.Ticks) * tickMs, Flops: g.Sum(e => e.Flops)))
                     .OrderByDescending(g => g.Ms).Take(12))
            byShape[g.Key] = $"{BenchContext.Round(g.Ms, 1)} ms, {BenchContext.Round(g.Flops / (g.Ms * 1e6), 1)} GFLOP/s";
        node["(top kernel shapes)"] = byShape;
        return (events.Sum(e => e.Flops), node);
    }

    private static (string, Action) PriorStep(Backend be)
    {
        const int batch = 32, k = 256;
        var model = new PixelSnail(be, PixelSnailConfig.Larger(k, 16, 16), seed: 0);
        var adam = new Adam(model.Parameters(), lr: 3e-4f);
        var rng = new Random(0);
        var codes = Tensor.FromArray(be, Enumerable.Range(0, batch * 256).Select(_ => rng.Next(k)).ToArray(), batch, 16, 16);
        model.Train();
        return ($"PixelSNAIL K={k} 16x16 codes, C=128, 4x4 res blocks, batch {batch}, {model.ParameterCount()} parameters, Adam", () =>
        {
            using var scope = new TensorScope();
            adam.ZeroGrad();
            model.Loss(codes).Backward();
            adam.Step();
        });
    }

    private static (string, Action) VqVaeStep(Backend be)
    {
        const int batch = 16;
        var cfg = VqVaeConfig.ForImage(256, 3);
        var model = new VqVae(be, cfg, seed: 0);
        var adam = new Adam(model.Parameters(), lr: 3e-4f);
        var rng = new Random(0);
        var x = Tensor.FromArray(be, Enumerable.Range(0, batch * 3 * 256 * 256).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), batch, 3, 256, 256);
        model.Train();
        return ($"VQ-VAE 256x256x3, batch {batch}, {cfg.Channels} channels, downsample {cfg.Downsample}, {model.ParameterCount()} parameters, Adam", () =>
        {
            using var scope = new TensorScope();
            adam.ZeroGrad();
            model.Forward(x).Loss.Backward();
            adam.Step();
        });
    }
}
