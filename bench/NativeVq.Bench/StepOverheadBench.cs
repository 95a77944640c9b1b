using System.Text.Json.Nodes;
using NativeVq.Cpu;

namespace NativeVq.Bench;

/// <summary>
/// The VAE training step's kernels other than the convs, one by one at the shapes the step runs them (batch 64,
/// 32x32; docs/results.md "step overhead", issue 10), on cpu: median ms per launch. Uses only the public Backend API,
/// so the same file builds against an older tree and the two can be run alternately.
/// </summary>
public sealed class StepOverheadBench : IBench
{
    public string Name => "step_overhead";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var b = CpuBackend.Instance;
        using var scope = new TensorScope();
        var rng = new Rng(3);
        Tensor R(params int[] shape)
        {
            var t = Tensor.Empty(b, shape);
            var a = new float[t.Numel];
            for (int i = 0; i < a.Length; i++) a[i] = rng.Uniform(-1, 1);
            return Tensor.FromArray(b, a, shape);
        }
        double Ms(Action a) => BenchContext.Round(ctx.MedianMs(a, minSeconds: 0.5, warmupSeconds: 0.2), 4);

        // Warm the thread pool first: the first parallel kernel of a process ran 5-30x slow for a while (measured
        // 0.68 and 2.5 ms against 0.07 for the same activation_backward later in the run), whichever kernel it was.
        var warm = Tensor.Empty(b, 1 << 22);
        ctx.MedianMs(() => b.Fill(warm, 0f), minSeconds: 0.5, warmupSeconds: 0.2);

        var lin = R(64, 1024);
        var linBias = R(1024);
        var linGrad = Tensor.Zeros(b, 1024);
        result["add_channel_bias_64x1024_ms"] = Ms(() => b.AddChannelBias(linBias, lin, 64, 1024, 1));
        result["channel_sum_64x1024_ms"] = Ms(() => b.ChannelSum(lin, linGrad, 64, 1024, 1));
        // The Linear heads' GEMM (mu / logvar: [64,1024]·[32,1024]ᵀ), K = 1024 in four KC blocks.
        var head = R(32, 1024);
        var headOut = Tensor.Empty(b, 64, 32);
        result["gemm_64x32x1024_ms"] = Ms(() => b.Gemm(new GemmSpec(false, true, 64, 32, 1024), lin, head, headOut));

        var small = R(64, 32);
        var smallBias = R(32);
        result["add_channel_bias_64x32_ms"] = Ms(() => b.AddChannelBias(smallBias, small, 64, 32, 1));
        result["channel_sum_64x32_ms"] = Ms(() => b.ChannelSum(small, smallBias, 64, 32, 1));

        // The fused conv epilogue's backward at the VAE's three activation shapes (ReLU, with the bias gradient).
        foreach (var (c, side) in new[] { (16, 16), (32, 8), (64, 4) })
        {
            var y = R(64, c, side, side);
            var dy = R(64, c, side, side);
            var dz = Tensor.Empty(b, y.Shape);
            var db = Tensor.Zeros(b, c);
            result[$"activation_backward_64x{c}x{side}x{side}_ms"] =
                Ms(() => b.ActivationBackward(y, dy, dz, db, 64, c, side * side, ConvEpilogue.Relu));
        }

        var big = R(64, 16, 16, 16);
        var big2 = R(64, 16, 16, 16);
        result["fill_64x16x16x16_ms"] = Ms(() => b.Fill(big2, 0f));
        result["axpby_64x16x16x16_ms"] = Ms(() => b.Axpby(big, big2, 1f, 1f));
        // A first gradient into a fresh buffer: one grad_copy pass against the fill + axpby it replaced.
        result["grad_copy_64x16x16x16_ms"] = Ms(() => b.GradCopy(big, big2));
        result["fill_then_axpby_64x16x16x16_ms"] = Ms(() => { b.Fill(big2, 0f); b.Axpby(big, big2, 1f, 1f); });
        var mid = R(64, 64, 4, 4);
        var mid2 = R(64, 64, 4, 4);
        result["fill_64x64x4x4_ms"] = Ms(() => b.Fill(mid2, 0f));
        result["relu_64x64x4x4_ms"] = Ms(() => b.Unary(UnaryOp.Relu, mid, mid2));

        var img = R(64, 1, 32, 32);
        var rec = R(64, 1, 32, 32);
        var loss = Tensor.Empty(b, 1);
        var g = Tensor.Full(b, 1f, 1);
        var dimg = Tensor.Zeros(b, 64, 1, 32, 32);
        result["mse_loss_64x1x32x32_ms"] = Ms(() => b.LossForward(PairLoss.Mse, rec, img, loss));
        result["mse_loss_backward_64x1x32x32_ms"] = Ms(() => b.LossBackward(PairLoss.Mse, rec, img, g, dimg, null));

        var p = R(64, 32, 4, 4);
        var pg = R(64, 32, 4, 4);
        var m = Tensor.Zeros(b, 64, 32, 4, 4);
        var v = Tensor.Zeros(b, 64, 32, 4, 4);
        var args = AdamArgs.ForStep(1e-3, 0.9, 0.999, 1e-8, 0, 1);
        result["adam_64x32x4x4_ms"] = Ms(() => b.AdamStep(p, pg, m, v, args));
        var ph = R(32, 1024);
        var phg = R(32, 1024);
        var mh = Tensor.Zeros(b, 32, 1024);
        var vh = Tensor.Zeros(b, 32, 1024);
        result["adam_32x1024_ms"] = Ms(() => b.AdamStep(ph, phg, mh, vh, args));
        // What one parallel launch costs by itself: CpuParallel.For over Threads × 4 chunks of nothing.
        result["parallel_for_empty_ms"] = Ms(() => CpuParallel.For(1 << 20, 1, static (_, _) => { }));

        var tiny = R(32);
        var tiny2 = R(32);
        result["axpby_32_ms"] = Ms(() => b.Axpby(tiny, tiny2, 1f, 1f));
    }
}
