using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Kernels;

namespace NativeVq.Bench;

/// <summary>
/// Causal attention forward+backward (with its q/k/v Linear projections) at PixelSNAIL's shape in the peer
/// (B = 32, 8×8 grid so N = 64, query channels C+2 = 66, key channels 2C+2 = 130, dk = 16, dv = 64, one head),
/// and cross-entropy forward+backward at the prior's logits [32, 128, 8, 8]; the ILGPU CPU simulator at a tiny
/// shape for reference.
/// </summary>
public sealed class AttentionBench : IBench
{
    public string Name => "attention";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var cpu = CpuBackend.Instance;
        result["cpu_attention_peer"] = Attention(ctx, cpu, b: 32, cq: 66, ck: 130, dk: 16, dv: 64, h: 8, w: 8, heads: 1, strict: false);
        result["cpu_attention_peer_2head_strict"] = Attention(ctx, cpu, b: 32, cq: 66, ck: 130, dk: 16, dv: 64, h: 8, w: 8, heads: 2, strict: true);
        result["cpu_cross_entropy_32x128x8x8"] = CrossEntropy(ctx, cpu, 32, 128, 8, 8);
        using var sim = Devices.CreateIlgpuCpu();
        result["ilgpu_cpu_attention_tiny"] = Attention(ctx, sim, b: 2, cq: 6, ck: 10, dk: 8, dv: 16, h: 4, w: 4, heads: 2, strict: true);
        // The fused forward (AttentionKernels.FusedCausal, what cuda runs) on the simulator: a smoke run, not a speed figure.
        sim.UseFusedAttention = true;
        result["ilgpu_cpu_attention_fused_tiny"] = Attention(ctx, sim, b: 2, cq: 6, ck: 10, dk: 8, dv: 16, h: 4, w: 4, heads: 2, strict: true);
        sim.UseFusedAttention = false;
        result["ilgpu_cpu_cross_entropy_2x16x4x4"] = CrossEntropy(ctx, sim, 2, 16, 4, 4);
    }

    private static Tensor Rand(Backend be, Random rng, float scale, params int[] shape)
    {
        var d = new float[ShapeUtil.Numel(shape)];
        for (int i = 0; i < d.Length; i++) d[i] = scale * ((float)rng.NextDouble() * 2 - 1);
        return Tensor.FromArray(be, d, shape);
    }

    private static JsonObject Attention(BenchContext ctx, Backend be, int b, int cq, int ck, int dk, int dv, int h, int w, int heads, bool strict)
    {
        var rng = new Random(7);
        var query = Rand(be, rng, 1f, b, cq, h, w);
        var key = Rand(be, rng, 1f, b, ck, h, w);
        var ps = new[]
        {
            Rand(be, rng, 1f / MathF.Sqrt(cq), dk, cq), Rand(be, rng, 0.1f, dk),
            Rand(be, rng, 1f / MathF.Sqrt(ck), dk, ck), Rand(be, rng, 0.1f, dk),
            Rand(be, rng, 1f / MathF.Sqrt(ck), dv, ck), Rand(be, rng, 0.1f, dv),
        };
        query.RequiresGrad = key.RequiresGrad = true;
        foreach (var p in ps) p.RequiresGrad = true;
        var up = Rand(be, rng, 1f, b, dv, h, w);

        Tensor Forward() => F.CausalAttention(query, key, ps[0], ps[1], ps[2], ps[3], ps[4], ps[5], heads, strict);
        double fwd = ctx.MedianMs(() =>
        {
            using var scope = new TensorScope();
            using var _ = Autograd.NoGrad();
            Forward();
            be.Synchronize();
        });
        double fb = ctx.MedianMs(() =>
        {
            using var scope = new TensorScope();
            Forward().Backward(up);
            be.Synchronize();
        });
        var kernels = BenchContext.KernelBreakdown(() =>
        {
            using var scope = new TensorScope();
            Forward().Backward(up);
            be.Synchronize();
        });
        int n = h * w;
        // FLOPs: projections 2·B·N·(dk·cq + (dk+dv)·ck), attention 2·B·N²·(dk + dv); backward about twice that.
        double flops = 2.0 * b * n * (dk * cq + (dk + dv) * ck) + 2.0 * b * n * n * (dk + dv);
        return new JsonObject
        {
            ["shape"] = $"B={b} N={n} cq={cq} ck={ck} dk={dk} dv={dv} heads={heads} strict={strict}",
            ["forward_ms"] = BenchContext.Round(fwd),
            ["forward_backward_ms"] = BenchContext.Round(fb),
            ["forward_gflops"] = BenchContext.Round(flops / (fwd * 1e6), 2),
            ["kernel_ms_forward_backward"] = kernels,
        };
    }

    private static JsonObject CrossEntropy(BenchContext ctx, Backend be, int n, int k, int h, int w)
    {
        var rng = new Random(9);
        var logits = Rand(be, rng, 3f, n, k, h, w);
        logits.RequiresGrad = true;
        var t = new int[n * h * w];
        for (int i = 0; i < t.Length; i++) t[i] = rng.Next(k);
        var targets = Tensor.FromArray(be, t, n, h, w);
        double fb = ctx.MedianMs(() =>
        {
            using var scope = new TensorScope();
            F.CrossEntropy(logits, targets).Backward();
            be.Synchronize();
        });
        return new JsonObject
        {
            ["shape"] = $"[{n},{k},{h},{w}]",
            ["forward_backward_ms"] = BenchContext.Round(fb),
            ["gb_per_s"] = BenchContext.Round(4.0 * 4 * logits.Numel / (fb * 1e6), 2), // ~4 passes over the logits
        };
    }
}
