using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Kernels;

namespace NativeVq.Bench;

/// <summary>
/// Bandwidth of the gated-block data movement: GLU forward + backward on x [N,C,H,W] and a channel concat of
/// two [N,C/2,H,W] halves into [N,C,H,W], at the PixelSNAIL shapes [32,256,8,8] and [32,128,32,32] on cpu;
/// the ILGPU CPU simulator at [2,16,8,8] for reference. GB/s counts the bytes each kernel must move
/// (GLU forward 12 B per output element, backward 28 B; concat 8 B per output element).
/// </summary>
public sealed class ShapeBench : IBench
{
    public string Name => "shape";

    public void Run(BenchContext ctx, JsonObject result)
    {
        result["cpu_32x256x8x8"] = Measure(ctx, CpuBackend.Instance, [32, 256, 8, 8]);
        result["cpu_32x128x32x32"] = Measure(ctx, CpuBackend.Instance, [32, 128, 32, 32]);
        using var sim = Devices.CreateIlgpuCpu();
        result["ilgpu_cpu_2x16x8x8"] = Measure(ctx, sim, [2, 16, 8, 8]);
    }

    private static JsonObject Measure(BenchContext ctx, Backend b, int[] shape)
    {
        using var scope = new TensorScope();
        int n = shape[0], c = shape[1], h = shape[2], w = shape[3];
        var rng = new Random(1);
        var data = Enumerable.Range(0, n * c * h * w).Select(_ => (float)rng.NextDouble() * 4f - 2f).ToArray();
        var x = Tensor.FromArray(b, data, shape);
        var y = Tensor.Empty(b, n, c / 2, h, w);
        var dy = Tensor.Full(b, 0.1f, n, c / 2, h, w);
        var dx = Tensor.Zeros(b, shape);
        var lo = Tensor.FromArray(b, data.AsSpan(0, y.Numel), n, c / 2, h, w);
        var hi = Tensor.FromArray(b, data.AsSpan(y.Numel, y.Numel), n, c / 2, h, w);
        var cat = Tensor.Empty(b, shape);

        double fwd = ctx.MedianMs(() => { b.Glu(x, y); b.Synchronize(); });
        double bwd = ctx.MedianMs(() => { b.GluBackward(x, dy, dx); b.Synchronize(); });
        double concat = ctx.MedianMs(() =>
        {
            b.CopyChannels(lo, cat, 0, 0, c / 2, accumulate: false);
            b.CopyChannels(hi, cat, 0, c / 2, c / 2, accumulate: false);
            b.Synchronize();
        });
        double ny = y.Numel, nc = cat.Numel;
        return new JsonObject
        {
            ["shape"] = ShapeUtil.Format(shape),
            ["glu_forward_ms"] = BenchContext.Round(fwd),
            ["glu_forward_gb_s"] = BenchContext.Round(12.0 * ny / (fwd * 1e6)),
            ["glu_backward_ms"] = BenchContext.Round(bwd),
            ["glu_backward_gb_s"] = BenchContext.Round(28.0 * ny / (bwd * 1e6)),
            ["glu_fwd_bwd_ms"] = BenchContext.Round(fwd + bwd),
            ["glu_fwd_bwd_gb_s"] = BenchContext.Round(40.0 * ny / ((fwd + bwd) * 1e6)),
            ["concat_forward_ms"] = BenchContext.Round(concat),
            ["concat_forward_gb_s"] = BenchContext.Round(8.0 * nc / (concat * 1e6)),
        };
    }
}
