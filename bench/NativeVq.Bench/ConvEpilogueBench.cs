using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeVq.Cpu;

namespace NativeVq.Bench;

/// <summary>
/// The fused conv + bias + activation op (ConvEpilogue) against the unfused composition (F.Conv2d then F.Relu), forward
/// and backward (input, weight and bias gradients), at the VAE's layer shapes (batch 64, 32x32 grayscale, width 64) on
/// cpu. The two are timed in interleaved pairs in one process, so the ratio holds on a loaded machine where absolute
/// times drift; each step's process CPU time is recorded too (on a machine shared with other work, wall time includes
/// waiting for a core, CPU time does not). `--only conv_epilogue`.
/// </summary>
public sealed class ConvEpilogueBench : IBench
{
    public string Name => "conv_epilogue";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var cpu = CpuBackend.Instance;
        // (name, transposed, n, cin, side, cout): the VAE's five conv layers that end in ReLU.
        (string Name, bool T, int Cin, int Side, int Cout)[] layers =
            [("enc1", false, 1, 32, 16), ("enc2", false, 16, 16, 32), ("enc3", false, 32, 8, 64), ("dec1", true, 64, 4, 32), ("dec2", true, 32, 8, 16)];
        double fusedTotal = 0, unfusedTotal = 0, fusedCpuTotal = 0, unfusedCpuTotal = 0;
        foreach (var l in layers)
        {
            var (fused, unfused, fusedCpu, unfusedCpu) = Pair(ctx, cpu, l.T, 64, l.Cin, l.Side, l.Cout);
            fusedTotal += fused;
            unfusedTotal += unfused;
            fusedCpuTotal += fusedCpu;
            unfusedCpuTotal += unfusedCpu;
            result[$"{l.Name}_{(l.T ? "convT" : "conv")}_{l.Cin}to{l.Cout}_{l.Side}px_b64"] = new JsonObject
            {
                ["fused_ms"] = BenchContext.Round(fused, 3),
                ["unfused_ms"] = BenchContext.Round(unfused, 3),
                ["fused_over_unfused"] = BenchContext.Round(fused / unfused, 3),
                ["fused_cpu_ms"] = BenchContext.Round(fusedCpu, 3),
                ["unfused_cpu_ms"] = BenchContext.Round(unfusedCpu, 3),
                ["fused_over_unfused_cpu"] = BenchContext.Round(fusedCpu / unfusedCpu, 3),
            };
        }
        result["all_layers_fused_ms"] = BenchContext.Round(fusedTotal, 3);
        result["all_layers_unfused_ms"] = BenchContext.Round(unfusedTotal, 3);
        result["all_layers_fused_over_unfused"] = BenchContext.Round(fusedTotal / unfusedTotal, 3);
        result["all_layers_fused_over_unfused_cpu"] = BenchContext.Round(fusedCpuTotal / unfusedCpuTotal, 3);
    }

    /// <summary>Median wall and process-CPU ms of one forward+backward, fused and unfused, from alternating repetitions.</summary>
    private static (double Fused, double Unfused, double FusedCpu, double UnfusedCpu) Pair(BenchContext ctx, Backend b, bool transposed, int n, int cin, int side, int cout)
    {
        var rng = new Random(5);
        Tensor R(params int[] shape) => Tensor.FromArray(b, Enumerable.Range(0, ShapeUtil.Numel(shape)).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), shape);
        var x = R(n, cin, side, side);
        var w = transposed ? R(cin, cout, 4, 4) : R(cout, cin, 4, 4);
        var bias = R(cout);
        foreach (var t in new[] { x, w, bias }) t.RequiresGrad = true;
        int outSide = transposed ? side * 2 : side / 2;
        var up = R(n, cout, outSide, outSide);

        void Step(bool fused)
        {
            using (var scope = new TensorScope())
            {
                Tensor y = transposed
                    ? fused ? F.ConvTranspose2d(x, w, bias, 2, 1, ConvEpilogue.Relu) : F.Relu(F.ConvTranspose2d(x, w, bias, 2, 1))
                    : fused ? F.Conv2d(x, w, bias, 2, 1, ConvEpilogue.Relu) : F.Relu(F.Conv2d(x, w, bias, 2, 1));
                y.Backward(up);
            }
            foreach (var t in new[] { x, w, bias }) { t.Grad?.Dispose(); t.Grad = null; }
        }

        for (int i = 0; i < 3; i++) { Step(true); Step(false); }
        var fusedMs = new List<double>();
        var unfusedMs = new List<double>();
        var fusedCpu = new List<double>();
        var unfusedCpu = new List<double>();
        var process = Process.GetCurrentProcess();
        var budget = Stopwatch.StartNew();
        double seconds = ctx.Quick ? 0.5 : 3;
        while (budget.Elapsed.TotalSeconds < seconds || fusedMs.Count < 9)
        {
            // Alternate which goes first, so neither always runs on the warmer cache.
            bool fusedFirst = fusedMs.Count % 2 == 0;
            for (int k = 0; k < 2; k++)
            {
                bool fused = (k == 0) == fusedFirst;
                process.Refresh();
                var c0 = process.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                Step(fused);
                (fused ? fusedMs : unfusedMs).Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                process.Refresh();
                (fused ? fusedCpu : unfusedCpu).Add((process.TotalProcessorTime - c0).TotalMilliseconds);
            }
        }
        return (Median(fusedMs), Median(unfusedMs), Median(fusedCpu), Median(unfusedCpu));
    }

    private static double Median(List<double> v)
    {
        v.Sort();
        return v.Count % 2 == 1 ? v[v.Count / 2] : 0.5 * (v[v.Count / 2 - 1] + v[v.Count / 2]);
    }
}
