using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Kernels;

namespace NativeVq.Bench;

/// <summary>
/// SGEMM GFLOP/s on cpu: 512³ (the headline figure), model-like shapes (a conv of one image as a GEMM,
/// batched attention scores, serial and parallel), and the ILGPU CPU simulator at 64³ (naive and tiled kernels) for reference; GPU figures: bench/gpu_check.sh.
/// "vs_mkl": ours at 512³ (NN, TN, NT) and LibTorch's MKL SGEMM 512³ (the TorchSharp peer's `gemm 512`, 2 threads) in
/// interleaved pairs (ours, MKL, ours, MKL, ...) since the machine's speed drifts; MKL is null where ../shared is absent.
/// </summary>
public sealed class GemmBench : IBench
{
    public string Name => "gemm";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var cpu = CpuBackend.Instance;
        result["vs_mkl"] = VersusMkl(ctx, cpu);
        result["cpu_512"] = Measure(ctx, cpu, new GemmSpec(false, false, 512, 512, 512));
        result["cpu_512_tn"] = Measure(ctx, cpu, new GemmSpec(true, false, 512, 512, 512));
        result["cpu_512_nt"] = Measure(ctx, cpu, new GemmSpec(false, true, 512, 512, 512));
        result["cpu_conv_64x1024x576"] = Measure(ctx, cpu, new GemmSpec(false, false, 64, 1024, 576));
        result["cpu_conv_64x1024x576_serial"] = MeasureSpan(ctx, new GemmSpec(false, false, 64, 1024, 576), parallel: false);
        result["cpu_attn_256x64x64x16"] = Measure(ctx, cpu, new GemmSpec(false, true, 64, 64, 16, 1f, 0f, 256, 64 * 16, 64 * 16, 64 * 64));
        result["cpu_attn_256x64x16x64"] = Measure(ctx, cpu, new GemmSpec(false, false, 64, 16, 64, 1f, 0f, 256, 64 * 64, 64 * 16, 64 * 16));
        result["cpu_small_33x17x9_serial"] = MeasureSpan(ctx, new GemmSpec(false, false, 33, 17, 9), parallel: false);
        using var sim = Devices.CreateIlgpuCpu();
        result["ilgpu_cpu_64"] = Measure(ctx, sim, new GemmSpec(false, false, 64, 64, 64));
        // The tiled kernel (what cuda runs) on the simulator: a correctness smoke run, not a speed (barriers cost OS threads there).
        sim.UseTiledGemm = true;
        result["ilgpu_cpu_64_tiled"] = Measure(ctx, sim, new GemmSpec(false, false, 64, 64, 64));
    }

    /// <summary>Interleaved pairs: ours (NN, TN, NT) then one MKL run; ratios of medians, ours / MKL.</summary>
    private static JsonObject VersusMkl(BenchContext ctx, Backend cpu)
    {
        var peer = MklPeer.Find(out string why);
        var layouts = new[] { ("nn", false, false), ("tn", true, false), ("nt", false, true) };
        var ours = layouts.ToDictionary(l => l.Item1, _ => new List<double>());
        var mkl = new List<double>();
        var pairs = new JsonArray();
        for (int pair = 0; pair < (ctx.Quick ? 1 : 3); pair++)
        {
            var node = new JsonObject();
            foreach (var (name, ta, tb) in layouts)
            {
                double g = Measure(ctx, cpu, new GemmSpec(ta, tb, 512, 512, 512))["gflops"]!.GetValue<double>();
                ours[name].Add(g);
                node["ours_" + name] = g;
            }
            double? m = peer?.Gflops(512);
            if (m is double v) mkl.Add(v);
            node["mkl_nn"] = m;
            pairs.Add(node);
        }
        double? mklMedian = mkl.Count > 0 ? Median(mkl) : null;
        var result = new JsonObject
        {
            ["mkl_source"] = peer is null ? why : "LibTorch MKL via ../shared/peer/torchsharp `gemm 512` (2 threads, best of 7 x 20 calls)",
            ["pairs"] = pairs,
            ["mkl_nn_gflops"] = mklMedian,
        };
        foreach (var (name, _, _) in layouts)
        {
            double o = Median(ours[name]);
            result["ours_" + name + "_gflops"] = o;
            result["ratio_" + name + "_to_mkl"] = mklMedian is double mm ? BenchContext.Round(o / mm, 3) : null;
        }
        return result;
    }

    private static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);

    private static float[] Data(int n)
    {
        var rng = new Random(1);
        return Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
    }

    private static JsonObject Measure(BenchContext ctx, Backend b, GemmSpec spec)
    {
        using var scope = new TensorScope();
        var a = Tensor.FromArray(b, Data(spec.Batch * spec.M * spec.K), spec.Batch * spec.M * spec.K);
        var bm = Tensor.FromArray(b, Data(spec.Batch * spec.K * spec.N), spec.Batch * spec.K * spec.N);
        var c = Tensor.Empty(b, spec.Batch * spec.M * spec.N);
        double ms = ctx.MedianMs(() => { b.Gemm(spec, a, bm, c); b.Synchronize(); });
        return Result(spec, ms);
    }

    /// <summary>The span kernel directly (as conv kernels call it from inside their own parallel loops).</summary>
    private static JsonObject MeasureSpan(BenchContext ctx, GemmSpec spec, bool parallel)
    {
        var a = Data(spec.Batch * spec.M * spec.K);
        var bm = Data(spec.Batch * spec.K * spec.N);
        var c = new float[spec.Batch * spec.M * spec.N];
        double ms = ctx.MedianMs(() => CpuGemm.Sgemm(spec, a, bm, c, parallel));
        var r = Result(spec, ms);
        r["alloc_bytes"] = BenchContext.AllocatedBytes(() => CpuGemm.Sgemm(spec, a, bm, c, parallel));
        return r;
    }

    private static JsonObject Result(GemmSpec s, double ms) => new()
    {
        ["batch"] = s.Batch, ["m"] = s.M, ["n"] = s.N, ["k"] = s.K,
        ["trans"] = (s.TransA ? "T" : "N") + (s.TransB ? "T" : "N"),
        ["ms"] = BenchContext.Round(ms, 4),
        ["gflops"] = BenchContext.Round(s.Flops / (ms * 1e6), 2),
    };
}
