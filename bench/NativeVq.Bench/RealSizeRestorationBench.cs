using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeVq.Anomaly.Scoring;
using NativeVq.Bench.Legacy;
using NativeVq.Cpu;
using NativeVq.Models;

namespace NativeVq.Bench;

/// <summary>
/// Restoration at real grid sizes (issue 12): ms per image for 15 restorations at 8x8 (peer prior, C = 64),
/// 16x16 and 32x32 (the <see cref="PixelSnailConfig.Larger"/> preset: C = 128, 4 stages × 4 res blocks), K = 128,
/// random weights. Each image resamples 6 % of its codes at random positions — a threshold-rule mask without
/// the spatial clustering a real defect has, so the resampled span covers almost the whole grid (the hard case).
/// "share_recomputed" is the lane-positions the scheduler evaluated in one call over S full passes (measured:
/// restorations whose draws agree share evaluations), "share_recomputed_former" the former schedule's figure
/// for the same masks (shared prefix, then all S lanes to the last resampled position). A random-weight prior's
/// draws rarely agree; "16x16_c128_confident" repeats 16x16 with the output layer's weights ×8 (more peaked
/// logits — an emulation, not a trained model) to see how much sharing more confident draws buy (measured: almost
/// none at ×8; over 16 resampled positions per image the 15 histories still diverge early).
/// New: <see cref="CachedRestorer"/> with several images batched and every core; old: the pre-issue-12 restorer
/// (bench/Legacy), one image at a time, in the same run. "bit_identical_old_new" compares their code maps for the
/// same seeds. Wall times ("ms_per_image", median) and process CPU times of one call ("cpu_ms_per_image") are both
/// given: on a shared machine the wall time says how much of the cores the bench got.
/// Quiet-machine command: <c>dotnet run -c Release --project bench/NativeVq.Bench -- --only restoration_real --out bench/results/restoration_real.json</c>.
/// </summary>
public sealed class RealSizeRestorationBench : IBench
{
    public string Name => "restoration_real";

    private const int Restorations = 15;

    public void Run(BenchContext ctx, JsonObject result)
    {
        result["config"] = "K=128, random weights, 15 restorations, T=1, 6% of codes resampled at random positions per image";
        result["threads"] = Environment.ProcessorCount;
        Grid(ctx, result, "8x8_c64", new PixelSnailConfig(), images: 8, old: true, oneThread: false);
        Grid(ctx, result, "16x16_c128", PixelSnailConfig.Larger(128, 16, 16), images: 4, old: true, oneThread: true);
        Grid(ctx, result, "16x16_c128_confident", PixelSnailConfig.Larger(128, 16, 16), images: 4, old: true, oneThread: false, outScale: 8f);
        Grid(ctx, result, "32x32_c128", PixelSnailConfig.Larger(128, 32, 32), images: 2, old: true, oneThread: false);
    }

    private static void Grid(BenchContext ctx, JsonObject result, string name, PixelSnailConfig cfg, int images, bool old, bool oneThread, float outScale = 1f)
    {
        var prior = new PixelSnail(CpuBackend.Instance, cfg, seed: 0);
        if (outScale != 1f)
        {
            var w = prior.Out.Weight;
            var scaled = Tensor.FromArray(CpuBackend.Instance, w.ToArray().Select(v => v * outScale).ToArray(), w.Shape);
            CpuBackend.Instance.Axpby(scaled, w, 1f, 0f);   // w = scaled, in place
        }
        int hw = cfg.Height * cfg.Width;
        var rng = new Random(1);
        var requests = new List<RestoreRequest>();
        for (int g = 0; g < images; g++)
        {
            var codes = Enumerable.Range(0, hw).Select(_ => rng.Next(cfg.Codes)).ToArray();
            var mask = Enumerable.Range(0, hw).Select(_ => rng.NextDouble() < 0.06).ToArray();
            requests.Add(new RestoreRequest(codes, mask, (ulong)g));
        }
        var fast = new CachedRestorer();
        var node = new JsonObject
        {
            ["images_per_call"] = images,
            ["resampled_per_image"] = BenchContext.Round(requests.Average(r => r.Resample.Count(b => b)), 1),
            ["share_recomputed_former"] = BenchContext.Round(requests.Sum(r => CachedRestorer.EvaluatedPositions(r.Resample, Restorations)) / (double)(images * Restorations * hw)),
        };
        double newMs = ctx.MedianMs(() => fast.RestoreAll(prior, requests, Restorations), minSeconds: 2, minReps: 3, warmup: 1, warmupSeconds: 0) / images;
        node["new_ms_per_image"] = BenchContext.Round(newMs);
        long evaluatedBefore = fast.EvaluatedLanePositions;
        double newCpu = CpuMs(() => fast.RestoreAll(prior, requests, Restorations)) / images;
        node["new_cpu_ms_per_image"] = BenchContext.Round(newCpu);
        node["share_recomputed"] = BenchContext.Round((fast.EvaluatedLanePositions - evaluatedBefore) / (double)(images * Restorations * hw));
        if (oneThread)
        {
            var single = new CachedRestorer { Threads = 1 };
            double oneMs = ctx.MedianMs(() => single.RestoreAll(prior, requests, Restorations), minSeconds: 0, minReps: 1, warmup: 0, warmupSeconds: 0) / images;
            node["new_1_thread_ms_per_image"] = BenchContext.Round(oneMs);
            node["ratio_1_thread_over_all_cores"] = BenchContext.Round(oneMs / newMs);
        }
        if (old)
        {
            var legacy = new LegacyCachedRestorer();
            var r0 = requests[0];
            int[] oldMaps = [];
            var sw = Stopwatch.StartNew();
            double oldCpu = CpuMs(() => oldMaps = legacy.Restore(prior, r0.Codes, r0.Resample, Restorations, r0.Seed));
            double oldMs = sw.Elapsed.TotalMilliseconds;
            if (cfg.Height <= 8) oldMs = ctx.MedianMs(() => legacy.Restore(prior, r0.Codes, r0.Resample, Restorations, r0.Seed), minSeconds: 1, minReps: 3, warmup: 0, warmupSeconds: 0);
            node["old_ms_per_image"] = BenchContext.Round(oldMs);
            node["ratio_old_over_new"] = BenchContext.Round(oldMs / newMs);
            node["old_cpu_ms_per_image"] = BenchContext.Round(oldCpu);
            node["ratio_old_over_new_cpu"] = BenchContext.Round(oldCpu / newCpu);
            node["bit_identical_old_new"] = oldMaps.AsSpan().SequenceEqual(fast.Restore(prior, r0.Codes, r0.Resample, Restorations, r0.Seed));
        }
        result[name] = node;
    }

    /// <summary>
    /// CPU time (all threads) of one call: on a machine shared with other jobs, wall time measures the share of the
    /// cores this process got; CPU time measures the work. Both are reported.
    /// </summary>
    private static double CpuMs(Action run)
    {
        var p = Process.GetCurrentProcess();
        p.Refresh();
        var before = p.TotalProcessorTime;
        run();
        p.Refresh();
        return (p.TotalProcessorTime - before).TotalMilliseconds;
    }
}
