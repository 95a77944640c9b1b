using System.Text.Json.Nodes;
using NativeVq.Anomaly.Scoring;
using NativeVq.Kernels;
using NativeVq.Models;
using NativeVq.Optim;

namespace NativeVq.Bench.GpuCheck;

/// <summary>The figures of the gpu check, each a median of device-synchronised repeats after warm-up.</summary>
public static class GpuTimings
{
    private static float[] Rand(int seed, int count, float scale = 1f)
    {
        var rng = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = scale * ((float)rng.NextDouble() * 2 - 1);
        return a;
    }

    private static Tensor R(Backend be, int seed, float scale, params int[] shape) => Tensor.FromArray(be, Rand(seed, ShapeUtil.Numel(shape), scale), shape);

    private static double Round(double v, int digits = 3) => Math.Round(v, digits);

    /// <summary>Square SGEMM (NN) through the naive and the tiled kernel, and the backend's default path.</summary>
    public static JsonNode Gemm(Backend be, CheckSizes sz, DeviceTimer timer)
    {
        int n = sz.GemmSize;
        var s = new GemmSpec(false, false, n, n, n);
        using var scope = new TensorScope();
        var a = R(be, 1, 1f, n * n); var b = R(be, 2, 1f, n * n); var c = Tensor.Empty(be, n * n);
        var node = new JsonObject { ["shape"] = $"{n}x{n}x{n} NN" };
        JsonNode Measure(Action run)
        {
            double ms = timer.MedianMs(run);
            return new JsonObject { ["ms"] = Round(ms), ["tflops"] = Round(s.Flops / (ms * 1e9)) };
        }
        if (be is IlgpuBackend ib)
        {
            node["naive"] = Guarded(() => Measure(() => ib.GemmNaive(s, a, b, c)));
            node["tiled"] = Guarded(() => Measure(() => { if (!ib.GemmTiled(s, a, b, c, ib.GemmTile)) throw new InvalidOperationException("grid too large"); }));
            node["tile"] = ib.GemmTile.ToString();
        }
        node["backend_gemm"] = Guarded(() => Measure(() => be.Gemm(s, a, b, c)));
        return node;
    }

    private static JsonNode Guarded(Func<JsonNode> f)
    {
        try { return f(); }
        catch (Exception ex) { return Stages.Error(ex); }
    }

    /// <summary>Conv 3x3 pad 1, C→C channels: forward, and forward + both backward kernels + bias gradient.</summary>
    public static JsonNode Conv(Backend be, CheckSizes sz, DeviceTimer timer)
    {
        var (n, ch, h) = sz.Conv;
        var g = ConvGeom.Create(n, ch, h, h, ch, 3, 1, 1);
        using var scope = new TensorScope();
        var x = R(be, 3, 1f, n, ch, h, h); var w = R(be, 4, 0.05f, ch, ch, 3, 3); var bias = R(be, 5, 0.1f, ch);
        var dy = R(be, 6, 1f, n, ch, h, h);
        var y = Tensor.Empty(be, n, ch, h, h);
        var dx = Tensor.Zeros(be, n, ch, h, h); var dw = Tensor.Zeros(be, ch, ch, 3, 3); var db = Tensor.Zeros(be, ch);
        var node = new JsonObject { ["geometry"] = g.ToString(), ["gflop_per_pass"] = Round(g.Flops / 1e9, 2) };
        double fwd = timer.MedianMs(() => be.Conv2dForward(x, w, bias, y, g), maxSeconds: 5);
        node["forward_ms"] = Round(fwd);
        node["forward_tflops"] = Round(g.Flops / (fwd * 1e9));
        node["backward_input_ms"] = Round(timer.MedianMs(() => be.Conv2dBackwardInput(dy, w, dx, g), minReps: 3, maxSeconds: 5));
        node["backward_weight_ms"] = Round(timer.MedianMs(() => be.Conv2dBackwardWeight(x, dy, dw, g), minReps: 3, maxSeconds: 5));
        node["bias_grad_ms"] = Round(timer.MedianMs(() => be.ChannelSum(dy, db, n, ch, h * h), minReps: 3));
        double total = fwd + node["backward_input_ms"]!.GetValue<double>() + node["backward_weight_ms"]!.GetValue<double>() + node["bias_grad_ms"]!.GetValue<double>();
        node["fwd_bwd_ms"] = Round(total);
        node["fwd_bwd_tflops"] = Round(3 * g.Flops / (total * 1e9));
        node["transpose"] = Guarded(() => ConvTranspose(be, sz, timer));
        node["masked"] = Guarded(() => MaskedConv(be, sz, timer));
        return node;
    }

    /// <summary>
    /// conv_transpose2d 4x4 stride 2 pad 1, C→C, H/2 → H (the decoder's up-sampling): the per-phase kernel against the
    /// implicit GEMM over every tap (3/4 of them zero), then the op forward and forward+backward through the backend.
    /// </summary>
    private static JsonNode ConvTranspose(Backend be, CheckSizes sz, DeviceTimer timer)
    {
        var (n, ch, h) = sz.Conv;
        var g = ConvGeom.Create(n, ch, h, h, ch, 4, 2, 1); // the conv whose adjoint this is: input h×h, output h/2
        using var scope = new TensorScope();
        var x = R(be, 16, 1f, n, ch, g.Hout, g.Wout); var w = R(be, 17, 0.05f, ch, ch, 4, 4); var bias = R(be, 18, 0.1f, ch);
        var y = Tensor.Zeros(be, n, ch, h, h);
        var node = new JsonObject { ["geometry"] = $"[{n},{ch},{g.Hout},{g.Wout}] -> [{n},{ch},{h},{h}] k4 s2 p1", ["gflop_per_pass_useful"] = Round(g.Flops / 1e9, 2) };
        if (be is IlgpuBackend ib)
        {
            node["phase_ms"] = Guarded(() => JsonValue.Create(Round(timer.MedianMs(() => Require(ib.ConvTransposePhaseTiled(x, w, bias, y, g, ib.GemmTile)), minReps: 3, maxSeconds: 5))));
            node["all_taps_ms"] = Guarded(() => JsonValue.Create(Round(timer.MedianMs(() => Require(ib.ConvBackwardInputTiled(x, w, y, g, ib.GemmTile)), minReps: 3, maxSeconds: 5))));
        }
        w.RequiresGrad = x.RequiresGrad = bias.RequiresGrad = true;
        var up = R(be, 19, 1f, n, ch, h, h);
        node["op_forward_ms"] = Round(timer.MedianMs(() => { using var s = new TensorScope(); using var _ = Autograd.NoGrad(); F.ConvTranspose2d(x, w, bias, 2, 1); }, minReps: 3, maxSeconds: 5));
        node["op_forward_backward_ms"] = Round(timer.MedianMs(() => { using var s = new TensorScope(); F.ConvTranspose2d(x, w, bias, 2, 1).Backward(up); }, minReps: 3, maxSeconds: 5));
        return node;
    }

    /// <summary>
    /// PixelSNAIL's causal 3x3 masked conv, C→C at H×H: forward+backward through the masked kernels (masked taps skipped)
    /// and through the graph path (weight ∘ mask, then the plain conv kernels; forced by a full-shape mask).
    /// </summary>
    private static JsonNode MaskedConv(Backend be, CheckSizes sz, DeviceTimer timer)
    {
        var (n, ch, h) = sz.Conv;
        var g = ConvGeom.Create(n, ch, h, h, ch, 3, 3, 1, 1, 2, 0, 1, 1);
        using var scope = new TensorScope();
        var x = R(be, 20, 1f, n, ch, h, h); var w = R(be, 21, 0.05f, ch, ch, 3, 3); var bias = R(be, 22, 0.1f, ch);
        var mask = new float[9];
        Array.Fill(mask, 1f);
        mask[8] = 0f; // the last kernel row's tap right of the centre
        var kernelMask = Tensor.FromArray(be, mask, 3, 3);
        var fullMask = Tensor.FromArray(be, Enumerable.Range(0, ch * ch * 9).Select(i => mask[i % 9]).ToArray(), ch, ch, 3, 3);
        x.RequiresGrad = w.RequiresGrad = bias.RequiresGrad = true;
        var up = R(be, 23, 1f, n, ch, h, h);
        double Measure(Tensor m) => Round(timer.MedianMs(() => { using var s = new TensorScope(); F.MaskedConv2d(x, w, m, bias, 1, (1, 1, 2, 0)).Backward(up); }, minReps: 3, maxSeconds: 5));
        return new JsonObject
        {
            ["geometry"] = g.ToString(),
            ["masked_kernels"] = be.HasMaskedConvKernels(g),
            ["forward_backward_ms"] = Measure(kernelMask),
            ["graph_path_forward_backward_ms"] = Measure(fullMask),
        };
    }

    private static void Require(bool launched)
    {
        if (!launched) throw new InvalidOperationException("grid too large");
    }

    /// <summary>PixelSNAIL's causal attention with its q/k/v projections, forward and forward+backward.</summary>
    public static JsonNode Attention(Backend be, CheckSizes sz, DeviceTimer timer)
    {
        var (b, cq, ck, dk, dv, h) = sz.Attention;
        var query = R(be, 7, 1f, b, cq, h, h); var key = R(be, 8, 1f, b, ck, h, h);
        var ps = new[]
        {
            R(be, 9, 1f / MathF.Sqrt(cq), dk, cq), R(be, 10, 0.1f, dk),
            R(be, 11, 1f / MathF.Sqrt(ck), dk, ck), R(be, 12, 0.1f, dk),
            R(be, 13, 1f / MathF.Sqrt(ck), dv, ck), R(be, 14, 0.1f, dv),
        };
        query.RequiresGrad = key.RequiresGrad = true;
        foreach (var p in ps) p.RequiresGrad = true;
        var up = R(be, 15, 1f, b, dv, h, h);
        Tensor Forward() => F.CausalAttention(query, key, ps[0], ps[1], ps[2], ps[3], ps[4], ps[5], 1, false);
        double fwd = timer.MedianMs(() => { using var s = new TensorScope(); using var _ = Autograd.NoGrad(); Forward(); });
        double fb = timer.MedianMs(() => { using var s = new TensorScope(); Forward().Backward(up); });
        var node = new JsonObject
        {
            ["shape"] = $"B={b} N={h * h} cq={cq} ck={ck} dk={dk} dv={dv} heads=1",
            ["forward_ms"] = Round(fwd),
            ["forward_backward_ms"] = Round(fb),
            ["path"] = be.PrefersFusedAttention(dk, dv) ? "fused" : "gemm_softmax_gemm",
        };
        if (be is IlgpuBackend ib && ib.UseFusedAttention)
        {
            // The same block through the two batched GEMMs and the row softmax, for comparison.
            ib.UseFusedAttention = false;
            try
            {
                node["unfused_forward_ms"] = Guarded(() => JsonValue.Create(Round(timer.MedianMs(() => { using var s = new TensorScope(); using var _ = Autograd.NoGrad(); Forward(); }))));
                node["unfused_forward_backward_ms"] = Guarded(() => JsonValue.Create(Round(timer.MedianMs(() => { using var s = new TensorScope(); Forward().Backward(up); }))));
            }
            finally { ib.UseFusedAttention = true; }
        }
        return node;
    }

    /// <summary>Nearest-code argmin over N = n·h·h positions, K codes of D dimensions.</summary>
    public static JsonNode Argmin(Backend be, CheckSizes sz, DeviceTimer timer)
    {
        var (n, d, h, k) = sz.Argmin;
        using var scope = new TensorScope();
        var z = R(be, 16, 1f, n, d, h, h); var cb = R(be, 17, 1f, k, d);
        var idx = Tensor.Empty(be, DType.I32, n, h, h);
        double ms = timer.MedianMs(() => be.NearestCode(z, cb, idx, n, d, h * h, k));
        double flops = 2.0 * n * h * h * k * d;
        var node = new JsonObject { ["n"] = n * h * h, ["k"] = k, ["d"] = d, ["ms"] = Round(ms, 4), ["tflops"] = Round(flops / (ms * 1e9)) };
        if (be is IlgpuBackend ib)
        {
            // "ms" is the backend's path (the tiled kernel on cuda); the one-thread-per-position kernel for comparison.
            node["path"] = ib.UseTiledGemm ? "tiled" : "naive";
            node["naive_ms"] = Guarded(() => JsonValue.Create(Round(timer.MedianMs(() => ib.NearestCodeNaive(z, cb, idx, n, d, h * h, k)), 4)));
        }
        return node;
    }

    /// <summary>VQ-VAE training step (forward, backward, Adam) on random images.</summary>
    public static JsonNode VqVaeTrain(Backend be, CheckSizes sz, DeviceTimer timer)
    {
        var cfg = sz.VqVae;
        int b = sz.TrainBatch, s = cfg.ImageSize;
        var model = new VqVae(be, cfg, seed: 1);
        using var adam = new Adam(model.Parameters(), 3e-4f);
        var batch = Rand(18, b * cfg.ImageChannels * s * s);
        float lastLoss = float.NaN;
        void Step()
        {
            using var scope = new TensorScope();
            var o = model.Forward(Tensor.FromArray(be, batch, b, cfg.ImageChannels, s, s));
            o.Loss.Backward();
            adam.Step();
            adam.ZeroGrad();
        }
        double ms = timer.MedianMs(Step, minReps: 10, maxSeconds: 10);
        // Host↔device copies of one step (the batch in; the step itself reads nothing back).
        var before = be.Transfers.Snapshot();
        Step();
        var copies = be.Transfers.Since(before);
        using (var scope = new TensorScope())
        using (Autograd.NoGrad()) lastLoss = model.Forward(Tensor.FromArray(be, batch, b, cfg.ImageChannels, s, s)).Loss.ToArray()[0];
        return new JsonObject
        {
            ["batch"] = b, ["image"] = $"{cfg.ImageChannels}x{s}x{s}", ["parameters"] = model.ParameterCount(),
            ["step_ms"] = Round(ms), ["steps_per_s"] = Round(1000 / ms, 2), ["images_per_s"] = Round(b * 1000 / ms, 0),
            ["loss_after"] = lastLoss,
            ["copies_per_step"] = new JsonObject
            {
                ["uploads"] = copies.Uploads, ["upload_bytes"] = copies.UploadBytes,
                ["downloads"] = copies.Downloads, ["download_bytes"] = copies.DownloadBytes,
            },
        };
    }

    /// <summary>PixelSNAIL training step (forward, backward, Adam) on random codes.</summary>
    public static JsonNode PixelSnailTrain(Backend be, CheckSizes sz, DeviceTimer timer)
    {
        var cfg = sz.PixelSnail;
        int b = sz.TrainBatch;
        var model = new PixelSnail(be, cfg, seed: 0);
        using var adam = new Adam(model.Parameters(), lr: 3e-4f);
        var rng = new Random(0);
        var codes = Tensor.FromArray(be, Enumerable.Range(0, b * cfg.Height * cfg.Width).Select(_ => rng.Next(cfg.Codes)).ToArray(), b, cfg.Height, cfg.Width);
        model.Train();
        void Step()
        {
            using var scope = new TensorScope();
            adam.ZeroGrad();
            model.Loss(codes).Backward();
            adam.Step();
        }
        double ms = timer.MedianMs(Step, minReps: 10, maxSeconds: 10);
        return new JsonObject
        {
            ["batch"] = b, ["grid"] = $"{cfg.Height}x{cfg.Width} K={cfg.Codes}", ["parameters"] = model.ParameterCount(),
            ["step_ms"] = Round(ms), ["steps_per_s"] = Round(1000 / ms, 2), ["images_per_s"] = Round(b * 1000 / ms, 0),
        };
    }

    /// <summary>One restoration of a whole code map (every code resampled) with the device prior (random weights).</summary>
    public static JsonNode Restoration(Backend be, CheckSizes sz, DeviceTimer timer)
    {
        var cfg = sz.PixelSnail;
        var prior = new PixelSnail(be, cfg, seed: 0);
        prior.Eval();
        int hw = cfg.Height * cfg.Width;
        var rng = new Random(0);
        var codes = Enumerable.Range(0, hw).Select(_ => rng.Next(cfg.Codes)).ToArray();
        var mask = Enumerable.Repeat(true, hw).ToArray();
        var restorer = new IncrementalRestorer();
        double one = timer.MedianMs(() => restorer.Restore(prior, codes, mask, 1, 7), minReps: 3, maxSeconds: 10);
        double fifteen = timer.MedianMs(() => restorer.Restore(prior, codes, mask, 15, 7), minReps: 3, maxSeconds: 10);
        return new JsonObject
        {
            ["restorer"] = nameof(IncrementalRestorer), ["grid"] = $"{cfg.Height}x{cfg.Width} K={cfg.Codes}",
            ["ms_per_image_1_restoration"] = Round(one), ["ms_per_image_15_restorations"] = Round(fifteen),
        };
    }
}
