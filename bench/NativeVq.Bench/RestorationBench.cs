using System.Text.Json.Nodes;
using NativeVq.Anomaly.Scoring;
using NativeVq.Cpu;
using NativeVq.Models;

namespace NativeVq.Bench;

/// <summary>
/// Restoration sampling at the peer's prior (K = 128, 8×8, default config, random weights), all 64 codes
/// resampled: ms per image for the naive loop (1 restoration = 64 batch-1 passes, the figure the PyTorch peer
/// times: shared/peer/FIGURES.md resample_64_ms_per_image = 267 ms), for <see cref="IncrementalRestorer"/> (batched
/// full passes) and for <see cref="CachedRestorer"/> (the factory's fast restorer: activation caches, one pass per
/// restoration), at 1 and 15 restorations (naive 15 is measured in full mode, estimated as 15 × naive 1 with --quick).
/// Random weights are the hard case for pass skipping: almost every redraw changes the code.
/// </summary>
public sealed class RestorationBench : IBench
{
    public string Name => "restoration";

    private const double PeerMsPerRestoration = 267;

    public void Run(BenchContext ctx, JsonObject result)
    {
        var be = CpuBackend.Instance;
        string loadBefore = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?";
        var cfg = new PixelSnailConfig();
        var prior = new PixelSnail(be, cfg, seed: 0);
        var rng = new Random(0);
        var codes = Enumerable.Range(0, 64).Select(_ => rng.Next(cfg.Codes)).ToArray();
        var mask = Enumerable.Repeat(true, 64).ToArray();
        var naive = new NaiveRestorer();
        var incremental = new IncrementalRestorer();
        var fast = new CachedRestorer();

        double naive1 = ctx.MedianMs(() => naive.Restore(prior, codes, mask, 1, 7), minSeconds: 3, minReps: 3, warmup: 1);
        double inc1 = ctx.MedianMs(() => incremental.Restore(prior, codes, mask, 1, 7), minSeconds: 2, minReps: 3, warmup: 1);
        double inc15 = ctx.Quick ? double.NaN : ctx.MedianMs(() => incremental.Restore(prior, codes, mask, 15, 7), minSeconds: 0, minReps: 1, warmup: 0, warmupSeconds: 0);
        double fast1 = ctx.MedianMs(() => fast.Restore(prior, codes, mask, 1, 7), minSeconds: 2, minReps: 10, warmup: 3);
        double fast15 = ctx.MedianMs(() => fast.Restore(prior, codes, mask, 15, 7), minSeconds: 2, minReps: 10, warmup: 3);
        double naive15 = ctx.Quick ? 15 * naive1 : ctx.MedianMs(() => naive.Restore(prior, codes, mask, 15, 7), minSeconds: 0, minReps: 1, warmup: 0, warmupSeconds: 0);
        var reference = naive.Restore(prior, codes, mask, 2, 9);
        bool same = reference.AsSpan().SequenceEqual(fast.Restore(prior, codes, mask, 2, 9))
            && reference.AsSpan().SequenceEqual(incremental.Restore(prior, codes, mask, 2, 9));

        result["config"] = $"K=128 8x8 C=64 2 stages x 2 res blocks dk=16 dv=64, random weights, all 64 codes resampled, T=1";
        result["threads"] = Environment.ProcessorCount;
        result["naive_1_ms_per_image"] = BenchContext.Round(naive1);
        result["fast_restorer"] = nameof(CachedRestorer);
        result["incremental_1_ms_per_image"] = BenchContext.Round(inc1);
        if (!ctx.Quick) result["incremental_15_ms_per_image"] = BenchContext.Round(inc15);
        result["fast_1_ms_per_image"] = BenchContext.Round(fast1);
        result["naive_15_ms_per_image"] = BenchContext.Round(naive15);
        result["naive_15_measured"] = !ctx.Quick;
        result["fast_15_ms_per_image"] = BenchContext.Round(fast15);
        result["fast_15_ms_per_restoration"] = BenchContext.Round(fast15 / 15);
        result["peer_resample_64_ms_per_image"] = PeerMsPerRestoration;
        result["peer_source"] = "shared/peer/FIGURES.md: PyTorch 1.13.1, OpenBLAS, 2 threads, naive loop, 1 restoration";
        result["ratio_peer_over_naive_1"] = BenchContext.Round(PeerMsPerRestoration / naive1);
        result["ratio_peer_over_fast_1"] = BenchContext.Round(PeerMsPerRestoration / fast1);
        result["ratio_peer_over_fast_15_per_restoration"] = BenchContext.Round(PeerMsPerRestoration / (fast15 / 15));
        result["ratio_naive_over_fast_15"] = BenchContext.Round(naive15 / fast15);
        result["ratio_naive_over_fast_1"] = BenchContext.Round(naive1 / fast1);
        result["ratio_incremental_over_fast_1"] = BenchContext.Round(inc1 / fast1);
        result["bit_identical_to_naive"] = same;
        result["loadavg_before"] = loadBefore;
        result["loadavg_after"] = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "?";
    }
}
