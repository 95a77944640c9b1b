using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Optim;

namespace NativeVq.Bench;

/// <summary>
/// The VAE baseline (default sizes, 32x32 grayscale) on cpu: training steps/s at batch 64 (forward with a seeded
/// reparameterisation draw, backward, Adam) and the step's GFLOP/s against this machine's SGEMM (512³) measured in the
/// same run (there is no peer figure for the VAE; issue 10 asks for ≥ 50 % of SGEMM).
/// <para>
/// Two measurements of the share. <c>share_of_sgemm</c>: 4 s of steps, then the SGEMM (as every earlier round measured
/// it); on a quiet machine it moved between 0.44 and 0.53 from run to run, because the machine's speed drifts between
/// the two. <c>share_of_sgemm_blocks</c>: steps and SGEMM calls in alternating blocks of ≈ 0.3 s, a share per block
/// pair and their median, so drift falls on both sides alike. Blocks, not single calls: a 512³ SGEMM between every two
/// steps evicts the step's weights and activations from L2 and measured the step ≈ 20 % slower than in training; even
/// in blocks the step measures slower than in a 4 s run, so the block share is the lower, conservative figure.
/// </para>
/// </summary>
public sealed class VaeBench : IBench
{
    private const int Batch = 64;

    public string Name => "vae";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var backend = new CpuBackend();
        var cfg = new VaeConfig();
        var model = new Vae(backend, cfg, seed: 1);
        using var adam = new Adam(model.Parameters(), 1e-3f);
        var rng = new Rng(7);
        var noise = new Rng(8);
        var batch = Enumerable.Range(0, Batch * 32 * 32).Select(_ => rng.Uniform(-1, 1)).ToArray();

        void TrainStep()
        {
            using var scope = new TensorScope();
            var o = model.Forward(Tensor.FromArray(backend, batch, Batch, 1, 32, 32), noise);
            o.Loss.Backward();
            adam.Step();
            adam.ZeroGrad();
        }

        // Warm-up (tiered JIT, the first parallel launches of the process) before the timed rounds.
        var warm = System.Diagnostics.Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < (ctx.Quick ? 0.2 : 2)) TrainStep();
        double trainMs = ctx.MedianMs(TrainStep, minSeconds: 4, warmupSeconds: 0);
        double stepFlops = StepFlops(cfg, Batch), sgemmFlops = 2.0 * 512 * 512 * 512;
        using var sgemmScope = new TensorScope();
        var sgemm512 = Sgemm512(backend);
        double sgemm = sgemmFlops / (ctx.MedianMs(sgemm512) * 1e6);

        var steps = new List<double>();
        var sgemms = new List<double>();
        var shares = new List<double>();
        int rounds = ctx.Quick ? 2 : 6;
        for (int r = 0; r < rounds; r++)
        {
            // Alternate which block runs first, so neither always follows the other's cache state.
            double stepMs = 0, sgemmMs = 0;
            for (int k = 0; k < 2; k++)
                if ((k + r) % 2 == 0) stepMs = BlockMedianMs(TrainStep, steps);
                else sgemmMs = BlockMedianMs(sgemm512, sgemms);
            shares.Add(stepFlops / stepMs / (sgemmFlops / sgemmMs));
        }
        double gflops = stepFlops / (trainMs * 1e6);
        result["train_batch"] = Batch;
        result["train_step_ms"] = BenchContext.Round(trainMs, 2);
        result["train_steps_per_s"] = BenchContext.Round(1000 / trainMs, 2);
        result["step_gflop"] = BenchContext.Round(stepFlops / 1e9, 4);
        result["step_gflop_per_s"] = BenchContext.Round(gflops, 2);
        result["sgemm_gflop_per_s"] = BenchContext.Round(sgemm, 2);
        result["share_of_sgemm"] = BenchContext.Round(gflops / sgemm, 3);
        result["blocks_step_ms"] = BenchContext.Round(Median(steps), 2);
        result["blocks_sgemm_gflop_per_s"] = BenchContext.Round(sgemmFlops / (Median(sgemms) * 1e6), 2);
        result["share_of_sgemm_blocks"] = BenchContext.Round(Median(shares), 3);   // median of the block pairs' shares
        result["share_of_sgemm_blocks_min_max"] = new JsonArray(BenchContext.Round(shares.Min(), 3), BenchContext.Round(shares.Max(), 3));
        result["block_pairs"] = rounds;
    }

    /// <summary>
    /// FLOPs of one training step: the forward, and a weight and an input gradient per layer, each costing what the
    /// forward does — except the first conv's input gradient, which is never computed (the images need no gradient).
    /// </summary>
    public static double StepFlops(VaeConfig c, int n) => 3 * ForwardFlops(c, n) - FirstConvFlops(c, n);

    private static double Conv(int n, int cin, int cout, int outSide) => 2.0 * n * cout * outSide * outSide * cin * 16;

    private static double FirstConvFlops(VaeConfig c, int n) => Conv(n, c.ImageChannels, c.Channels / 4, c.ImageSize / 2);

    /// <summary>Multiply-adds ×2 of the convs, transposed convs and linear layers of one forward pass.</summary>
    public static double ForwardFlops(VaeConfig c, int n)
    {
        int s = c.ImageSize, w = c.Channels, g = c.GridSize;
        double Conv(int cin, int cout, int outSide) => VaeBench.Conv(n, cin, cout, outSide);
        double encoder = Conv(c.ImageChannels, w / 4, s / 2) + Conv(w / 4, w / 2, s / 4) + Conv(w / 2, w, s / 8);
        double heads = 3 * 2.0 * n * c.FlatFeatures * c.Latent;
        // A transposed conv costs what the conv it transposes costs (input side = output side / 2).
        double decoder = Conv(c.ImageChannels, w / 4, s / 2) + Conv(w / 4, w / 2, s / 4) + Conv(w / 2, w, g);
        return encoder + heads + decoder;
    }

    /// <summary>Runs <paramref name="action"/> for ≈ 0.3 s; the median ms of those calls (each also added to <paramref name="all"/>).</summary>
    private static double BlockMedianMs(Action action, List<double> all)
    {
        var times = new List<double>();
        var block = System.Diagnostics.Stopwatch.StartNew();
        while (times.Count < 3 || block.Elapsed.TotalSeconds < 0.3)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            action();
            times.Add(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        all.AddRange(times);
        return Median(times);
    }

    private static double Median(List<double> v)
    {
        var sorted = v.OrderBy(t => t).ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>One 512×512×512 SGEMM on the same backend (its operands live in the caller's scope).</summary>
    private static Action Sgemm512(Backend b)
    {
        const int m = 512;
        var a = Tensor.Full(b, 0.5f, m, m);
        var bm = Tensor.Full(b, 0.25f, m, m);
        var c = Tensor.Empty(b, m, m);
        return () => b.Gemm(new GemmSpec(false, false, m, m, m), a, bm, c);
    }
}
