using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Optim;

namespace NativeVq.Bench;

/// <summary>
/// The VAE training step of <see cref="VaeBench"/> (batch 64, 32x32) timed by the process's CPU time as well as wall
/// time, in blocks of 20 steps (median of the blocks). On a machine shared with other work the wall time of a step
/// swings 2x with the others' load, while the CPU time it burns moves far less, so two builds run alternately compare
/// better by it (docs/results.md, round 7). Public API only, so the file builds against an older tree. `--only vae_step_cpu`.
/// </summary>
public sealed class VaeStepCpuBench : IBench
{
    private const int Batch = 64, BlockSteps = 20;

    public string Name => "vae_step_cpu";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var backend = new CpuBackend();
        var model = new Vae(backend, new VaeConfig(), seed: 1);
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

        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < (ctx.Quick ? 0.3 : 2)) TrainStep();
        var process = Process.GetCurrentProcess();
        var wall = new List<double>();
        var cpu = new List<double>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < (ctx.Quick ? 1 : 6) || wall.Count < 5)
        {
            process.Refresh();
            var c0 = process.TotalProcessorTime;
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < BlockSteps; i++) TrainStep();
            wall.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds / BlockSteps);
            process.Refresh();
            cpu.Add((process.TotalProcessorTime - c0).TotalMilliseconds / BlockSteps);
        }
        double Median(List<double> v) { v.Sort(); return v[v.Count / 2]; }
        result["step_wall_ms"] = BenchContext.Round(Median(wall), 3);
        result["step_cpu_ms"] = BenchContext.Round(Median(cpu), 3);
        result["blocks"] = wall.Count;
    }
}
