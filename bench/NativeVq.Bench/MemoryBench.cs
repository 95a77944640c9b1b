using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeVq.Anomaly.Scoring;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Optim;

namespace NativeVq.Bench;

/// <summary>
/// Peak working set of the real-size configurations of issue 12, each measured in a child process of its own (the
/// GC does not hand a previous configuration's memory back to the OS, so one process would report the largest
/// so far): "peak_mb" is the child's VmHWM, the process baseline (runtime, JIT, ~100 MB) included.
/// "pool_allocated_mb" is what the buffer pool allocated during it (the pool keeps every buffer it made until
/// cleared: its footprint). Random weights; the figures are memory, not quality.
/// <list type="bullet">
/// <item>train_prior_16x16: PixelSNAIL Larger preset (C = 128, 4 × 4 res blocks) on 16x16 codes, K = 256, batch 32, 2 Adam steps.</item>
/// <item>eval_16x16: VQ-VAE for 64x64 grey (16x16 codes) + that prior, <see cref="AnomalyScorer.Score"/> of 16 images with maps, 15 restorations.</item>
/// <item>train_vqvae_256_rgb: VQ-VAE for 256x256 RGB, batch 16, 2 Adam steps.</item>
/// </list>
/// </summary>
public sealed class MemoryBench : IBench
{
    public string Name => "memory_real";

    /// <summary>Set in a child process: the one configuration it measures.</summary>
    private const string ChildVariable = "NATIVEVQ_MEMORY_CONFIG";

    private static readonly string[] Configs = ["train_prior_16x16", "eval_16x16", "train_vqvae_256_rgb"];

    public void Run(BenchContext ctx, JsonObject result)
    {
        var be = CpuBackend.Instance;
        string? child = Environment.GetEnvironmentVariable(ChildVariable);
        if (child is not null)
        {
            result[child] = Measure(be, child switch
            {
                "train_prior_16x16" => () => TrainPrior(be),
                "eval_16x16" => () => Eval(be),
                "train_vqvae_256_rgb" => () => TrainVqVae(be),
                _ => throw new ArgumentException($"{ChildVariable}: unknown configuration '{child}'"),
            });
            return;
        }
        foreach (var name in Configs) result[name] = InChild(name, ctx.Quick);
    }

    /// <summary>Runs this bench for one configuration in a fresh process and returns its figures.</summary>
    private static JsonNode? InChild(string name, bool quick)
    {
        string output = Path.Combine(Path.GetTempPath(), $"nativevq-memory-{Environment.ProcessId}-{name}.json");
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") psi.ArgumentList.Add(typeof(MemoryBench).Assembly.Location);
        foreach (var a in new[] { "--only", "memory_real", "--out", output }) psi.ArgumentList.Add(a);
        if (quick) psi.ArgumentList.Add("--quick");
        psi.Environment[ChildVariable] = name;
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 || !File.Exists(output)) return new JsonObject { ["error"] = $"exit {p.ExitCode}: {err.Trim().Split('\n').LastOrDefault()}" };
        var node = JsonNode.Parse(File.ReadAllText(output))!["results"]!["memory_real"]![name]!.DeepClone();
        File.Delete(output);
        return node;
    }

    private static JsonObject Measure(Backend be, Func<JsonObject> run)
    {
        long poolBefore = be.Pool.AllocatedBytes;
        var sw = Stopwatch.StartNew();
        var node = run();
        node["seconds"] = BenchContext.Round(sw.Elapsed.TotalSeconds, 1);
        node["peak_mb"] = BenchContext.Round(PeakRssMb(), 1);
        node["pool_allocated_mb"] = BenchContext.Round((be.Pool.AllocatedBytes - poolBefore) / 1048576.0, 1);
        node["managed_heap_mb_after"] = BenchContext.Round(GC.GetTotalMemory(false) / 1048576.0, 1);
        return node;
    }

    /// <summary>VmHWM of this process (peak resident set since the last reset), in MB.</summary>
    private static double PeakRssMb()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0;
        return Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
    }

    private static JsonObject TrainPrior(Backend be)
    {
        const int batch = 32, k = 256;
        var model = new PixelSnail(be, PixelSnailConfig.Larger(k, 16, 16), seed: 0);
        using var adam = new Adam(model.Parameters(), lr: 3e-4f);
        var rng = new Random(0);
        var codes = Tensor.FromArray(be, Enumerable.Range(0, batch * 256).Select(_ => rng.Next(k)).ToArray(), batch, 16, 16);
        model.Train();
        for (int step = 0; step < 2; step++)
        {
            using var scope = new TensorScope();
            adam.ZeroGrad();
            model.Loss(codes).Backward();
            adam.Step();
        }
        return new JsonObject { ["config"] = $"K={k} 16x16 C=128 4x4 res blocks, batch {batch}, {model.ParameterCount()} parameters, 2 steps" };
    }

    private static JsonObject Eval(Backend be)
    {
        var vq = new VqVae(be, VqVaeConfig.ForImage(64, 1), seed: 0);
        var prior = new PixelSnail(be, PixelSnailConfig.Larger(vq.Config.CodebookSize, 16, 16), seed: 0);
        var data = new SyntheticTextures(16, 64, seed: 3, anomalyFraction: 0.5f);
        // τ: the 94th percentile of the per-code NLL of these images, so about 6 % of codes are resampled.
        var scorer0 = new AnomalyScorer(vq, prior, 1e9, 1e9, new ScoringOptions(), RestorerFactory.Fast());
        var grids = scorer0.Score(data, Enumerable.Range(0, data.Count).ToArray(), maps: false).SelectMany(s => s.NllGrid).Order().ToArray();
        double tau = grids[(int)(0.94 * (grids.Length - 1))];
        var scorer = new AnomalyScorer(vq, prior, 1e9, tau, new ScoringOptions(), RestorerFactory.Fast());
        var scores = scorer.Score(data, Enumerable.Range(0, data.Count).ToArray(), maps: true);
        return new JsonObject
        {
            ["config"] = "VQ-VAE 64x64x1 (16x16 codes, K=256) + prior C=128 4x4 res blocks, 16 images, maps, 15 restorations, τ = 94th NLL percentile",
            ["resampled_codes_per_image"] = BenchContext.Round(scores.Average(s => s.ResampledCodes), 1),
        };
    }

    private static JsonObject TrainVqVae(Backend be)
    {
        const int batch = 16;
        var cfg = VqVaeConfig.ForImage(256, 3);
        var model = new VqVae(be, cfg, seed: 0);
        using var adam = new Adam(model.Parameters(), lr: 3e-4f);
        var rng = new Random(0);
        var x = Tensor.FromArray(be, Enumerable.Range(0, batch * 3 * 256 * 256).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), batch, 3, 256, 256);
        model.Train();
        for (int step = 0; step < 2; step++)
        {
            using var scope = new TensorScope();
            adam.ZeroGrad();
            model.Forward(x).Loss.Backward();
            adam.Step();
        }
        return new JsonObject { ["config"] = $"256x256x3, batch {batch}, {cfg.Channels} channels, downsample {cfg.Downsample}, {model.ParameterCount()} parameters, 2 steps" };
    }
}
