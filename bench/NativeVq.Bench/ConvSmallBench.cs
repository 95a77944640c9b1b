using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeVq.Cpu;

namespace NativeVq.Bench;

/// <summary>
/// The 4x4-output convs of the VAE/GAN bottleneck (batch 64, 8x8 → 4x4, k4 s2 p1) on cpu: the implicit GEMM on 16-wide
/// panels (ConvGemm.cs) against the im2col + GEMM path they used before, forward; and the input gradient's phase form
/// (CpuConv.BackwardInput: at 4x4 it keeps col2im, whose phases would be 4x4 maps) against col2im — timed in
/// interleaved pairs in one process (wall and process CPU time); and the weight gradients of the three VAE stages, the
/// implicit GEMM (K across images) against im2col. `--only conv_small`.
/// </summary>
public sealed class ConvSmallBench : IBench
{
    public string Name => "conv_small";

    public void Run(BenchContext ctx, JsonObject result)
    {
        foreach (var (cin, cout) in new[] { (32, 64), (64, 128) })
        {
            var g = ConvGeom.Create(64, cin, 8, 8, cout, 4, 2, 1);
            var rng = new Random(1);
            float[] R(int len) => Enumerable.Range(0, len).Select(_ => rng.NextSingle() - 0.5f).ToArray();
            var x = R(g.InputSize);
            var w = R(g.WeightSize);
            var dy = R(g.OutputSize);
            var y = new float[g.OutputSize];
            var dx = new float[g.InputSize];
            string key = $"conv_{cin}to{cout}_8to4px_b64";
            result[key + "_forward"] = Pair(ctx, g.Flops, () => CpuConv.Forward(x, w, y, g), () => CpuConv.ForwardIm2Col(x, w, y, g));
            result[key + "_backward_input"] = Pair(ctx, g.Flops, () => CpuConv.BackwardInput(dy, w, dx, g), () => CpuConv.BackwardInputIm2Col(dy, w, dx, g));
        }
        // Weight gradients of the three VAE stages (each shape twice per step: the conv and the transposed conv that
        // mirrors it): the implicit GEMM reducing across images against im2col + GEMM, which the 4x4 stage and the
        // 1-channel conv used before.
        foreach (var (cin, cout, side) in new[] { (1, 16, 32), (16, 32, 16), (32, 64, 8) })
        {
            var g = ConvGeom.Create(64, cin, side, side, cout, 4, 2, 1);
            var rng = new Random(2);
            float[] R(int len) => Enumerable.Range(0, len).Select(_ => rng.NextSingle() - 0.5f).ToArray();
            var x = R(g.InputSize);
            var dy = R(g.OutputSize);
            var dw = new float[g.WeightSize];
            result[$"conv_{cin}to{cout}_{side}to{side / 2}px_b64_backward_weight"] =
                Pair(ctx, g.Flops, () => CpuConv.BackwardWeight(x, dy, dw, g), () => CpuConv.BackwardWeightIm2Col(x, dy, dw, g));
        }
    }

    private static JsonObject Pair(BenchContext ctx, double flops, Action fast, Action old)
    {
        for (int i = 0; i < 3; i++) { fast(); old(); }
        var wall = new[] { new List<double>(), new List<double>() };
        var cpu = new[] { new List<double>(), new List<double>() };
        var process = Process.GetCurrentProcess();
        var budget = Stopwatch.StartNew();
        for (int r = 0; budget.Elapsed.TotalSeconds < (ctx.Quick ? 0.5 : 3) || r < 9; r++)
            for (int k = 0; k < 2; k++)
            {
                int which = (k + r) % 2; // alternate which runs first
                process.Refresh();
                var c0 = process.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                (which == 0 ? fast : old)();
                wall[which].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                process.Refresh();
                cpu[which].Add((process.TotalProcessorTime - c0).TotalMilliseconds);
            }
        double M(List<double> v) { v.Sort(); return v[v.Count / 2]; }
        double fw = M(wall[0]), ow = M(wall[1]), fc = M(cpu[0]), oc = M(cpu[1]);
        return new JsonObject
        {
            ["fast_path_ms"] = BenchContext.Round(fw, 3),
            ["im2col_ms"] = BenchContext.Round(ow, 3),
            ["fast_over_im2col"] = BenchContext.Round(fw / ow, 3),
            ["fast_path_cpu_ms"] = BenchContext.Round(fc, 3),
            ["im2col_cpu_ms"] = BenchContext.Round(oc, 3),
            ["fast_over_im2col_cpu"] = BenchContext.Round(fc / oc, 3),
            ["fast_path_gflops_per_cpu_s"] = BenchContext.Round(flops / (fc * 1e6), 1),
        };
    }
}
