using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Bench;

/// <summary>
/// Issue 13, item 3: VQ-VAE capacity at 64 px. Trains the 64-px default and variants (dead-code restarts off or
/// more frequent, more residual blocks, a wider model) on the demo's generated normal textures at 64 px with
/// the same seed, steps and data, then reports on held-out normal textures the reconstruction MSE and L1 (images
/// in [-1, 1]) and the codes in use (distinct codes over the held-out code maps) and their perplexity.
/// Quality only: training time is reported under whatever load the machine had.
/// Run alone: dotnet bench/NativeVq.Bench/bin/Release/net10.0/NativeVq.Bench.dll --only vqvae_capacity
/// </summary>
public sealed class VqVaeCapacityBench : IBench
{
    public string Name => "vqvae_capacity";

    public void Run(BenchContext ctx, JsonObject result)
    {
        const int size = 64;
        int trainCount = ctx.Quick ? 32 : 256, testCount = ctx.Quick ? 16 : 64, epochs = ctx.Quick ? 1 : 8, batch = 16;
        var train = new SyntheticTextures(trainCount, size, 11);
        var test = new SyntheticTextures(testCount, size, 12);
        // The 64-px configuration before issue 13 (2 residual blocks) and variants of it; the last row is today's default.
        var baseCfg = VqVaeConfig.ForImage(size, 1) with { Ema = true, ResBlocks = 2 };
        var variants = new (string Name, VqVaeConfig Config, int Restart)[]
        {
            ("2 residual blocks (the default before issue 13), restart dead codes every 50 steps", baseCfg, 50),
            ("no dead-code restarts", baseCfg, 0),
            ("restart dead codes every 10 steps", baseCfg, 10),
            ("4 residual blocks, restart every 10", baseCfg with { ResBlocks = 4 }, 10),
            ("wider: 192 channels, 96 residual channels, restart every 10", baseCfg with { Channels = 192, ResChannels = 96 }, 10),
            ("default now: 4 residual blocks, restart every 50", VqVaeConfig.ForImage(size, 1) with { Ema = true }, 50),
        };
        result["image_size"] = size;
        result["train_images"] = trainCount;
        result["test_images"] = testCount;
        result["epochs"] = epochs;
        result["batch"] = batch;
        result["steps"] = epochs * ((trainCount + batch - 1) / batch);
        var rows = new JsonArray();
        foreach (var (name, cfg, restart) in variants)
        {
            var dir = Path.Combine(Path.GetTempPath(), "nvq-capacity-" + Guid.NewGuid().ToString("N"));
            try
            {
                var backend = CpuBackend.Instance;
                var clock = Stopwatch.StartNew();
                var vq = new VqVaeTrainer(backend, train, cfg, new VqVaeTrainOptions { Out = dir, Epochs = epochs, Batch = batch, Lr = 1e-3f, Seed = 1, RestartDeadCodesEvery = restart }).Run();
                double seconds = clock.Elapsed.TotalSeconds;
                var (mse, l1, used, ppl) = Measure(vq, test, backend);
                var row = new JsonObject
                {
                    ["setting"] = name,
                    ["parameters"] = vq.Parameters().Sum(p => (long)p.Numel),
                    ["heldout_mse"] = BenchContext.Round(mse, 5),
                    ["heldout_l1"] = BenchContext.Round(l1, 5),
                    ["codes_used"] = used,
                    ["codebook"] = cfg.CodebookSize,
                    ["perplexity"] = BenchContext.Round(ppl, 1),
                    ["train_seconds"] = BenchContext.Round(seconds, 1),
                };
                Console.Error.WriteLine($"[vqvae_capacity] {row.ToJsonString()}");
                rows.Add(row);
            }
            finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
        }
        result["variants"] = rows;
    }

    private static (double Mse, double L1, int Used, double Perplexity) Measure(VqVae vq, IImageDataset data, Backend backend)
    {
        int per = data.Channels * data.Size * data.Size;
        var x = new float[data.Count * per];
        for (int i = 0; i < data.Count; i++) data.Load(i, x.AsSpan(i * per, per));
        using var noGrad = Autograd.NoGrad();
        using var scope = new TensorScope();
        vq.Eval();
        var o = vq.Forward(Tensor.FromArray(backend, x, data.Count, data.Channels, data.Size, data.Size));
        var rec = o.Reconstruction.ToArray();
        double se = 0, ae = 0;
        for (int i = 0; i < x.Length; i++) { double d = x[i] - rec[i]; se += d * d; ae += Math.Abs(d); }
        var codes = o.Indices.ToIntArray();
        var counts = codes.GroupBy(c => c).Select(g => (double)g.Count() / codes.Length).ToArray();
        double entropy = -counts.Sum(p => p * Math.Log(p));
        return (se / x.Length, ae / x.Length, counts.Length, Math.Exp(entropy));
    }
}
