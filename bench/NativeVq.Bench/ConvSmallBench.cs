using System.Diagnostics;
using System.Text.Json.Nodes;
using NativeVq.Cpu;

namespace NativeVq.Bench;

/// <summary>
/// The small-map convs of the VAE/GAN (batch 64, k4 s2 p1: the VAE's three stages and a 64→128 stage) on cpu, each
/// fast path against the im2col + GEMM form it replaced, timed in interleaved pairs in one process (wall and process
/// CPU time): forward (also against the gathered implicit GEMM, and at the GAN's shapes), input gradient, weight
/// gradient — one method each. `--only conv_small`.
/// </summary>
public sealed class ConvSmallBench : IBench
{
    public string Name => "conv_small";

    /// <summary>(Cin, Cout, input side) of the VAE's three k4 s2 p1 stages at batch 64, and the 64→128 GAN-width stage.</summary>
    private static readonly (int Cin, int Cout, int Side)[] VaeStages = { (1, 16, 32), (16, 32, 16), (32, 64, 8) };

    public void Run(BenchContext ctx, JsonObject result)
    {
        Forward(ctx, result);
        BackwardInput(ctx, result);
        BackwardWeight(ctx, result);
    }

    /// <summary>
    /// Forward of the VAE stages (each shape twice per VAE step: the conv, and the input gradient of the transposed conv
    /// mirroring it), the 64→128 stage and the GAN discriminator's three k4 s2 convs (width 64): the tap-plane form that
    /// CpuConv.Forward runs (ConvForwardPlanes.cs) against the implicit GEMM with gathered panels it replaced
    /// (CpuConvGemm) and im2col + GEMM, in rotated rounds. The VAE stages also with the bias + ReLU epilogue they run with.
    /// </summary>
    private static void Forward(BenchContext ctx, JsonObject result)
    {
        foreach (var (cin, cout, side) in VaeStages.Append((64, 128, 8)).Concat(GanStages).Distinct())
        {
            var (g, x, w, _) = Setup(cin, cout, side, seed: 1);
            var y = new float[g.OutputSize];
            result[$"{Key(cin, cout, side)}_forward"] = InterleavedTimer.Run(ctx, g.Flops,
                ("planes", () => CpuConv.Forward(x, w, y, g)),
                ("gathered", () => CpuConvGemm.Forward(x, w, y, g)),
                ("im2col", () => CpuConv.ForwardIm2Col(x, w, y, g)));
        }
        foreach (var (cin, cout, side) in VaeStages)
        {
            var (g, x, w, _) = Setup(cin, cout, side, seed: 1);
            var y = new float[g.OutputSize];
            var bias = Enumerable.Range(0, cout).Select(i => 0.01f * (i - cout / 2)).ToArray();
            var relu = ConvEpilogue.Relu;
            result[$"{Key(cin, cout, side)}_forward_bias_relu"] = InterleavedTimer.Run(ctx, g.Flops,
                ("planes", () => CpuConv.Forward(x, w, y, g, bias, relu)),
                ("gathered", () => CpuConvGemm.Forward(x, w, y, g, bias: bias, epilogue: relu)),
                ("im2col", () => CpuConv.ForwardIm2Col(x, w, y, g, bias, relu)));
        }
    }

    /// <summary>(Cin, Cout, input side) of the GAN's (width 64) k4 s2 p1 stages whose input gradient runs every step.</summary>
    private static readonly (int Cin, int Cout, int Side)[] GanStages = { (1, 64, 32), (64, 128, 16), (128, 256, 8) };

    /// <summary>
    /// Input gradient of each VAE and GAN stage (also the transposed conv's forward): the one-pass k4 s2 p1 kernel
    /// against col2im, and against the per-phase implicit GEMM where that applies (dy maps of 32+ pixels, Cin ≥ 8) —
    /// the two forms main used before it.
    /// </summary>
    private static void BackwardInput(BenchContext ctx, JsonObject result)
    {
        foreach (var (cin, cout, side) in VaeStages.Append((64, 128, 8)).Concat(GanStages).Distinct())
        {
            var (g, x, w, dy) = Setup(cin, cout, side, seed: 1);
            var dx = new float[g.InputSize];
            result[$"{Key(cin, cout, side)}_backward_input"] = Pair(ctx, g.Flops, () => CpuConv.BackwardInput(dy, w, dx, g), () => CpuConv.BackwardInputIm2Col(dy, w, dx, g));
            // Into a fresh buffer (the transposed conv's output, a first input gradient): the overwriting kernel
            // against the zero-fill + accumulate it replaced.
            if (CpuConvBackwardInputK4S2.Supports(g))
                result[$"{Key(cin, cout, side)}_backward_input_overwrite_vs_fill"] = Pair(ctx, g.Flops,
                    () => CpuConvBackwardInputK4S2.Run(dy, w, dx, g, overwrite: true),
                    () => { Array.Clear(dx); CpuConvBackwardInputK4S2.Run(dy, w, dx, g); });
            // Cin ≥ 8: dy read in place with masks against every panel packed at its 9 shifts first (same bits).
            if (CpuConvBackwardInputK4S2.Supports(g) && cin >= 8)
                result[$"{Key(cin, cout, side)}_backward_input_in_place_vs_packed"] = InterleavedTimer.Run(ctx, g.Flops,
                    ("in_place", () => CpuConvBackwardInputK4S2.Run(dy, w, dx, g, overwrite: true, packAll: false)),
                    ("packed", () => CpuConvBackwardInputK4S2.Run(dy, w, dx, g, overwrite: true, packAll: true)));
            if (CpuConvBackwardInputGemm.TryRunPhases(dy, w, dx, g))
                result[$"{Key(cin, cout, side)}_backward_input_vs_phase_gemm"] =
                    Pair(ctx, g.Flops, () => CpuConv.BackwardInput(dy, w, dx, g), () => CpuConvBackwardInputGemm.TryRunPhases(dy, w, dx, g));
        }
    }

    /// <summary>
    /// Weight gradients of the three VAE stages (each shape twice per step: the conv and the transposed conv that mirrors
    /// it) and of the GAN's three k4 s2 p1 stages: the transposed implicit GEMM (dWᵀ = col(x)·dyᵀ) against im2col + GEMM,
    /// and its taps read from a zero-bordered copy of x against column rows.
    /// </summary>
    private static void BackwardWeight(BenchContext ctx, JsonObject result)
    {
        foreach (var (cin, cout, side) in VaeStages.Concat(GanStages))
        {
            var (g, x, w, dy) = Setup(cin, cout, side, seed: 2);
            var dw = new float[g.WeightSize];
            result[$"{Key(cin, cout, side)}_backward_weight"] =
                Pair(ctx, g.Flops, () => CpuConv.BackwardWeight(x, dy, dw, g), () => CpuConv.BackwardWeightIm2Col(x, dy, dw, g));
            // Taps broadcast from a zero-bordered copy of x against the column rows they replaced (same bits).
            var tile = CpuConvBackwardWeightGemm.DefaultTile(g);
            if (CpuConvBackwardWeightGemm.SupportsBordered(g, tile))
                result[$"{Key(cin, cout, side)}_backward_weight_bordered_vs_column_rows"] = InterleavedTimer.Run(ctx, g.Flops,
                    ("bordered", () => CpuConvBackwardWeightGemm.Run(x, dy, dw, g, tile, bordered: true)),
                    ("column_rows", () => CpuConvBackwardWeightGemm.Run(x, dy, dw, g, tile, bordered: false)));
        }
        // Stride 1: a PixelSNAIL-style 3x3 128→128 conv on 8x8 latents (batch 16), where each column row is a masked copy.
        var g3 = ConvGeom.Create(16, 128, 8, 8, 128, 3, 1, 1);
        var rng = new Random(3);
        float[] R(int len) => Enumerable.Range(0, len).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        var (x3, dy3, dw3) = (R(g3.InputSize), R(g3.OutputSize), new float[g3.WeightSize]);
        result["conv3x3_128to128_8px_b16_backward_weight"] =
            Pair(ctx, g3.Flops, () => CpuConv.BackwardWeight(x3, dy3, dw3, g3), () => CpuConv.BackwardWeightIm2Col(x3, dy3, dw3, g3));
    }

    private static string Key(int cin, int cout, int side) => $"conv_{cin}to{cout}_{side}to{side / 2}px_b64";

    /// <summary>The stage's geometry at batch 64 and seeded x, w, dy in [-0.5, 0.5).</summary>
    private static (ConvGeom G, float[] X, float[] W, float[] Dy) Setup(int cin, int cout, int side, int seed)
    {
        var g = ConvGeom.Create(64, cin, side, side, cout, 4, 2, 1);
        var rng = new Random(seed);
        float[] R(int len) => Enumerable.Range(0, len).Select(_ => rng.NextSingle() - 0.5f).ToArray();
        return (g, R(g.InputSize), R(g.WeightSize), R(g.OutputSize));
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
