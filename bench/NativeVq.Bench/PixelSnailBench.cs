using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Optim;

namespace NativeVq.Bench;

/// <summary>
/// The PixelSNAIL prior end to end at the peer's shape (K = 128, 8×8 codes, default config, 723,664 parameters):
/// training steps/s at batch 32 (forward + backward + Adam) and NLL scoring images/s at batch 256 (no grad),
/// managed bytes and pool allocations per step in steady state, the per-kernel profile of one training step, and
/// the ratio to the PyTorch peer (shared/peer/FIGURES.md: OpenBLAS, 2 threads).
/// </summary>
public sealed class PixelSnailBench : IBench
{
    public string Name => "pixelsnail";

    private const double PeerTrainStepsPerS = 8.59, PeerNllImagesPerS = 1059;

    public void Run(BenchContext ctx, JsonObject result)
    {
        var be = CpuBackend.Instance;
        string loadBefore = LoadAvg();
        var model = new PixelSnail(be, new PixelSnailConfig(), seed: 0);
        using var adam = new Adam(model.Parameters(), lr: 3e-4f);
        var rng = new Random(0);
        const int trainBatch = 32, inferBatch = 256;
        var codes = Tensor.FromArray(be, Enumerable.Range(0, trainBatch * 64).Select(_ => rng.Next(128)).ToArray(), trainBatch, 8, 8);
        var scoreCodes = Tensor.FromArray(be, Enumerable.Range(0, inferBatch * 64).Select(_ => rng.Next(128)).ToArray(), inferBatch, 8, 8);

        void Step()
        {
            using var scope = new TensorScope();
            adam.ZeroGrad();
            model.Loss(codes).Backward();
            adam.Step();
        }
        void Score()
        {
            using var scope = new TensorScope();
            model.NllMap(scoreCodes);
        }

        model.Train();
        double stepMs = ctx.MedianMs(Step, minSeconds: 4, warmup: 3, warmupSeconds: 3);
        long stepBytes = BenchContext.AllocatedBytes(Step);
        long poolStep = PoolAllocations(be, Step);
        var kernels = BenchContext.KernelBreakdown(Step);

        model.Eval();
        double scoreMs = ctx.MedianMs(Score, minSeconds: 3, warmup: 2, warmupSeconds: 3);
        long scoreBytes = BenchContext.AllocatedBytes(Score);
        long poolScore = PoolAllocations(be, Score);

        double steps = 1000.0 / stepMs, imgs = inferBatch * 1000.0 / scoreMs;
        result["config"] = $"K=128 8x8 C=64 2 stages x 2 res blocks dk=16 dv=64, {model.ParameterCount()} parameters";
        result["threads"] = Environment.ProcessorCount;
        result["train_batch"] = trainBatch;
        result["train_step_ms"] = BenchContext.Round(stepMs);
        result["train_steps_per_s"] = BenchContext.Round(steps, 2);
        result["train_images_per_s"] = BenchContext.Round(steps * trainBatch, 1);
        result["train_managed_bytes_per_step"] = stepBytes;
        result["train_pool_allocations_per_step"] = poolStep;
        result["nll_batch"] = inferBatch;
        result["nll_ms_per_batch"] = BenchContext.Round(scoreMs);
        result["nll_images_per_s"] = BenchContext.Round(imgs, 1);
        result["nll_managed_bytes_per_batch"] = scoreBytes;
        result["nll_pool_allocations_per_batch"] = poolScore;
        result["peer_train_steps_per_s"] = PeerTrainStepsPerS;
        result["peer_nll_images_per_s"] = PeerNllImagesPerS;
        result["peer_source"] = "shared/peer/FIGURES.md: PyTorch 1.13.1, OpenBLAS, 2 threads";
        result["ratio_train_ours_over_peer"] = BenchContext.Round(steps / PeerTrainStepsPerS);
        result["ratio_nll_ours_over_peer"] = BenchContext.Round(imgs / PeerNllImagesPerS);
        result["kernel_ms_one_train_step"] = kernels;
        result["loadavg_before"] = loadBefore;
        result["loadavg_after"] = LoadAvg();
    }

    /// <summary>Buffers the pool had to create during one call, after two warm-up calls (0 = steady state).</summary>
    private static long PoolAllocations(Backend be, Action run)
    {
        run();
        run();
        long before = be.Pool.Allocations;
        run();
        return be.Pool.Allocations - before;
    }

    private static string LoadAvg()
    {
        try { return File.ReadAllText("/proc/loadavg").Trim(); }
        catch (IOException) { return "?"; }
    }
}
