using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using NativeVq.Cpu;

namespace NativeVq.Bench;

/// <summary>
/// The VAE step's elementwise fusions of issue 10 round 7, each timed against the composition it replaced in
/// interleaved pairs in one process (cpu, batch 64, the step's shapes; median wall ms per call, new/old ratio):
/// the decoder head Linear → bias → ReLU as one op against F.Relu of the Linear (forward + backward through the
/// reshape), the conv epilogue's backward in place against into a fresh buffer, the one-loop MSE backward against
/// its three library passes, and the conv-transpose input gradient written into its fresh gradient against the
/// conv then GradCopy. `--only step_fusion`.
/// </summary>
public sealed class StepFusionBench : IBench
{
    public string Name => "step_fusion";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var b = CpuBackend.Instance;
        using var scope = new TensorScope();
        var rng = new Rng(5);
        Tensor R(params int[] shape)
        {
            var a = new float[ShapeUtil.Numel(shape)];
            for (int i = 0; i < a.Length; i++) a[i] = rng.Uniform(-1, 1);
            return Tensor.FromArray(b, a, shape);
        }

        // Decoder head: z [64, 32] → Linear(32 → 1024) → ReLU → [64, 64, 4, 4], forward and backward.
        var z = R(64, 32);
        var w = R(1024, 32);
        var bias = R(1024);
        w.RequiresGrad = bias.RequiresGrad = z.RequiresGrad = true;
        var up = R(64, 64, 4, 4);
        void Head(bool fused)
        {
            using var s = new TensorScope();
            var h = fused
                ? F.Reshape(F.Linear(z, w, bias, ConvEpilogue.Relu), 64, 64, 4, 4)
                : F.Relu(F.Reshape(F.Linear(z, w, bias), 64, 64, 4, 4));
            h.Backward(up);
            z.ZeroGrad(); w.ZeroGrad(); bias.ZeroGrad();
        }
        result["decoder_head_linear_relu_fwd_bwd"] = Pair(ctx, () => Head(true), () => Head(false));

        // The head's elementwise kernels alone: the fused bias + ReLU pass over [64, 1024] rows against the row bias
        // add then ReLU into a new tensor; the fused derivative + bias gradient against the four kernels it replaced
        // (the ReLU gradient's zero-fill, relu.backward, the reshape's grad_copy, the bias gradient's channel_sum).
        var lin = R(64, 1024);
        var linOut = R(64, 1024);
        var pre = R(64, 1024);
        var dyH = R(64, 1024);
        var dzH = Tensor.Empty(b, 64, 1024);
        var tmpH = Tensor.Empty(b, 64, 1024);
        var dbH = Tensor.Zeros(b, 1024);
        result["linear_bias_relu_forward_64x1024"] = Pair(ctx,
            () => b.BiasActivation(linOut, bias, 64, 1024, 1, ConvEpilogue.Relu),
            () => { b.AddChannelBias(bias, lin, 64, 1024, 1); b.Unary(UnaryOp.Relu, lin, tmpH); });
        result["linear_relu_backward_64x1024"] = Pair(ctx,
            () => b.ActivationBackward(pre, dyH, dzH, dbH, 64, 1024, 1, ConvEpilogue.Relu),
            () =>
            {
                b.Fill(tmpH, 0f);
                b.UnaryBackward(UnaryOp.Relu, pre, pre, dyH, tmpH);
                b.GradCopy(tmpH, dzH);
                b.ChannelSum(dzH, dbH, 64, 1024, 1);
            });

        // The epilogue backward (ReLU + bias gradient) at the VAE's activation shapes: dz overwriting dy (what the
        // graph now does when dy dies with the node) against dz in a fresh buffer taken from the pool per call.
        foreach (var (c, side) in new[] { (16, 16), (32, 8), (64, 4) })
        {
            var y = R(64, c, side, side);
            var dy = R(64, c, side, side);
            var db = Tensor.Zeros(b, c);
            int hw = side * side;
            result[$"activation_backward_64x{c}x{side}x{side}_in_place"] = Pair(ctx,
                () => b.ActivationBackward(y, dy, dy, db, 64, c, hw, ConvEpilogue.Relu),
                () =>
                {
                    using var s = new TensorScope();
                    b.ActivationBackward(y, dy, Tensor.Empty(b, y.Shape), db, 64, c, hw, ConvEpilogue.Relu);
                });
        }

        // MSE backward at the reconstruction's shape: one loop against Subtract, Multiply, Add per 1024-float block.
        var rec = R(64, 1, 32, 32);
        var img = R(64, 1, 32, 32);
        var drec = Tensor.Zeros(b, 64, 1, 32, 32);
        var one = Tensor.Full(b, 1f, 1);
        float[] ra = rec.ToArray(), ia = img.ToArray(), da = new float[ra.Length];
        result["mse_loss_backward_64x1x32x32"] = Pair(ctx,
            () => b.LossBackward(PairLoss.Mse, rec, img, one, drec, null),
            () =>
            {
                // The replaced kernel: the same parallel chunks of 1024-float blocks, three library passes per block.
                float k = 2f * (1f / ra.Length);
                CpuParallel.For(ra.Length / 1024, 32, (s0, e0) =>
                {
                    Span<float> t = stackalloc float[1024];
                    for (int blk = s0; blk < e0; blk++)
                    {
                        int o = blk * 1024;
                        TensorPrimitives.Subtract(ra.AsSpan(o, 1024), ia.AsSpan(o, 1024), t);
                        TensorPrimitives.Multiply(t, k, t);
                        TensorPrimitives.Add(da.AsSpan(o, 1024), t, da.AsSpan(o, 1024));
                    }
                });
            });

        // The conv-transpose's input gradient (dec2 [64,16,16,16] → [64,32,8,8]): the conv written into the fresh
        // gradient against the conv into a temporary, then GradCopy into the fresh gradient.
        var g2 = ConvGeom.Create(64, 16, 16, 16, 32, 4, 4, 2, 2, 1, 1, 1, 1);
        var dz = R(64, 16, 16, 16);
        var wt = R(32, 16, 4, 4);
        result["conv_transpose_input_grad_into_fresh_64x16x16x16"] = Pair(ctx,
            () =>
            {
                using var s = new TensorScope();
                b.Conv2dForward(dz, wt, null, Tensor.Empty(b, 64, 32, 8, 8), g2);
            },
            () =>
            {
                using var s = new TensorScope();
                var dx = Tensor.Empty(b, 64, 32, 8, 8);
                b.Conv2dForward(dz, wt, null, dx, g2);
                b.GradCopy(dx, Tensor.Empty(b, 64, 32, 8, 8));
            });
    }

    /// <summary>Median wall ms of <paramref name="fast"/> and <paramref name="old"/>, run alternately (which goes first alternating too).</summary>
    private static JsonObject Pair(BenchContext ctx, Action fast, Action old)
    {
        for (int i = 0; i < 5; i++) { fast(); old(); }
        var wall = new[] { new List<double>(), new List<double>() };
        var budget = Stopwatch.StartNew();
        for (int r = 0; budget.Elapsed.TotalSeconds < (ctx.Quick ? 0.3 : 1.5) || r < 9; r++)
            for (int k = 0; k < 2; k++)
            {
                int which = (k + r) % 2;
                long t0 = Stopwatch.GetTimestamp();
                (which == 0 ? fast : old)();
                wall[which].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        double M(List<double> v) { v.Sort(); return v[v.Count / 2]; }
        double fw = M(wall[0]), ow = M(wall[1]);
        return new JsonObject
        {
            ["new_ms"] = BenchContext.Round(fw, 4),
            ["old_ms"] = BenchContext.Round(ow, 4),
            ["new_over_old"] = BenchContext.Round(fw / ow, 3),
        };
    }
}
