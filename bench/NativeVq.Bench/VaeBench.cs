using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Optim;

namespace NativeVq.Bench;

/// <summary>
/// The VAE baseline (default sizes, 32x32 grayscale) on cpu: training steps/s at batch 64 (forward with a seeded
/// reparameterisation draw, backward, Adam) and the step's GFLOP/s against this machine's SGEMM measured in the same
/// run (there is no peer figure for the VAE; issue 10 asks for ≥ 50 % of SGEMM).
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

        double trainMs = ctx.MedianMs(TrainStep, minSeconds: 4, warmupSeconds: 2);
        double stepFlops = StepFlops(cfg, Batch);
        double sgemm = SgemmGflops(ctx, backend);
        double gflops = stepFlops / (trainMs * 1e6);
        result["train_batch"] = Batch;
        result["train_step_ms"] = BenchContext.Round(trainMs, 2);
        result["train_steps_per_s"] = BenchContext.Round(1000 / trainMs, 2);
        result["step_gflop"] = BenchContext.Round(stepFlops / 1e9, 4);
        result["step_gflop_per_s"] = BenchContext.Round(gflops, 2);
        result["sgemm_gflop_per_s"] = BenchContext.Round(sgemm, 2);
        result["share_of_sgemm"] = BenchContext.Round(gflops / sgemm, 3);
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

    /// <summary>SGEMM of 512×512×512 on the same backend, GFLOP/s.</summary>
    private static double SgemmGflops(BenchContext ctx, Backend b)
    {
        const int m = 512;
        using var scope = new TensorScope();
        var a = Tensor.Full(b, 0.5f, m, m);
        var bm = Tensor.Full(b, 0.25f, m, m);
        var c = Tensor.Empty(b, m, m);
        double ms = ctx.MedianMs(() => b.Gemm(new GemmSpec(false, false, m, m, m), a, bm, c));
        return 2.0 * m * m * m / (ms * 1e6);
    }
}
