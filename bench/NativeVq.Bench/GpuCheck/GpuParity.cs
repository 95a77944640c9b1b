using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Models;

namespace NativeVq.Bench.GpuCheck;

/// <summary>
/// Kernel parity of a device backend against cpu from fresh random inputs (the seed is reported): relative L2 error
/// ‖gpu − cpu‖ / max(‖cpu‖, 0.01·√n) per output — except outputs that are zero in exact arithmetic (the key-bias
/// gradient of softmax attention: a shift of every score of a row changes nothing), whose elements must be within
/// tol × the largest neighbouring gradient of 0 on both sides (<see cref="CompareNearZero"/>) — and the count of
/// non-finite values where cpu has finite ones. Outputs that a kernel
/// overwrites are poisoned with NaN first, so an element it never writes shows up as non-finite; accumulating
/// (backward) kernels start from the same non-zero value on both sides.
/// </summary>
public sealed class GpuParity(Backend gpu, CheckSizes sz)
{
    private static readonly Backend Cpu = CpuBackend.Instance;
    private const double Tol = 1e-4, ModelTol = 1e-3;

    public JsonNode RunAll(Stages stages, JsonObject root)
    {
        int seed = Environment.TickCount & 0x7fffffff;
        _seedRng = new Random(seed); // reported, so a failing run can be reproduced
        var node = new JsonObject { ["seed"] = seed };
        void Add(string name, Func<JsonNode> f)
        {
            node[name] = stages.Guard(f);
            Console.Error.WriteLine($"[gpu-check]   parity {name}: {node[name]!.ToJsonString()}");
        }
        var (m, n, k) = sz.ParityGemm;
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            string lay = (ta ? "T" : "N") + (tb ? "T" : "N");
            Add($"gemm_{lay}", () => Gemm(new GemmSpec(ta, tb, m, n, k)));
        }
        Add("gemm_alpha_beta", () => Gemm(new GemmSpec(false, true, m, n, k, 0.75f, -0.5f)));
        Add("gemm_batched_strided", () => Gemm(new GemmSpec(true, false, 45, 67, 33, 1f, 0f, 5, 45 * 33 + 3, 0, 45 * 67 + 5)));
        var (cn, cin, cout, ch) = sz.ParityConv;
        Add("conv3x3_s1_p1", () => Conv(ConvGeom.Create(cn, cin, ch, ch, cout, 3, 1, 1)));
        Add("conv4x4_s2_p1", () => Conv(ConvGeom.Create(cn, cin, ch + 1, ch + 1, cout, 4, 2, 1)));
        Add("conv_transpose4x4_s2_p1", () => OpGrads(["y", "dx", "dw", "db"], (be, t) => F.ConvTranspose2d(t[0], t[1], t[2], 2, 1),
            R(cn, cin, ch, ch), R(cin, cout, 4, 4), R(cout)));
        Add("masked_conv3x3_causal", () => OpGrads(["y", "dx", "dw", "db"], (be, t) => F.MaskedConv2d(t[0], t[1], CausalMask(be, 3), t[2], 1, (1, 1, 2, 0)),
            R(cn, cin, ch, ch), R(cout, cin, 3, 3), R(cout)));
        Add("attention_fwd_bwd", Attention);
        Add("argmin", Argmin);
        Add("softmax", Softmax);
        Add("vqvae_loss_grads", VqVae);
        Add("pixelsnail_loss_grads", PixelSnail);
        bool all = node.Where(p => p.Key != "seed").All(p => p.Value is JsonObject o && o["pass"]?.GetValue<bool>() == true);
        node["all_pass"] = all;
        // bench/gpu_check.sh reads this to run the later stages with the naive GEMM when the tiled one is wrong here.
        root["tiled_gemm_parity"] = node.Where(p => p.Key.StartsWith("gemm_", StringComparison.Ordinal))
            .All(p => p.Value is JsonObject o && o["pass"]?.GetValue<bool>() == true);
        return node;
    }

    private Random _seedRng = new(0);

    private float[] Rand(int count, float scale = 1f)
    {
        var a = new float[count];
        for (int i = 0; i < a.Length; i++) a[i] = scale * ((float)_seedRng.NextDouble() * 2 - 1);
        return a;
    }

    private Tensor R(params int[] shape) => Tensor.FromArray(Cpu, Rand(ShapeUtil.Numel(shape)), shape);

    /// <summary>Relative L2 error and non-finite count of one output.</summary>
    public static JsonObject Compare(float[] cpu, float[] dev, double tol)
    {
        if (cpu.Length != dev.Length) return new JsonObject { ["pass"] = false, ["error"] = $"length {dev.Length}, cpu {cpu.Length}" };
        double num = 0, den = 0;
        int bad = 0;
        for (int i = 0; i < cpu.Length; i++)
        {
            if (!float.IsFinite(cpu[i])) continue;
            if (!float.IsFinite(dev[i])) { bad++; continue; }
            double d = (double)dev[i] - cpu[i];
            num += d * d;
            den += (double)cpu[i] * cpu[i];
        }
        double rel = Math.Sqrt(num) / Math.Max(Math.Sqrt(den), 0.01 * Math.Sqrt(cpu.Length));
        return new JsonObject { ["rel_err"] = rel, ["nonfinite"] = bad, ["elements"] = cpu.Length, ["pass"] = bad == 0 && rel <= tol };
    }

    /// <summary>
    /// An output that is zero in exact arithmetic: passes when every element on both sides is within tol·scale of 0
    /// (scale: the largest magnitude of the gradients computed alongside). rel_err reports max|v| / scale.
    /// </summary>
    public static JsonObject CompareNearZero(float[] cpu, float[] dev, double scale, double tol)
    {
        if (cpu.Length != dev.Length) return new JsonObject { ["pass"] = false, ["error"] = $"length {dev.Length}, cpu {cpu.Length}" };
        int bad = dev.Count(v => !float.IsFinite(v));
        double worst = cpu.Concat(dev).Where(float.IsFinite).Select(v => Math.Abs((double)v)).DefaultIfEmpty(0).Max();
        double rel = scale > 0 ? worst / scale : worst;
        return new JsonObject
        {
            ["rel_err"] = rel, ["max_abs"] = worst, ["scale"] = scale, ["nonfinite"] = bad, ["elements"] = cpu.Length,
            ["pass"] = bad == 0 && rel <= tol,
        };
    }

    /// <summary>Several outputs: the worst relative error, the sum of non-finite counts.</summary>
    private static JsonObject Worst(IEnumerable<(string Name, JsonObject R)> parts)
    {
        var list = parts.ToList();
        var worst = list.OrderByDescending(p => p.R["rel_err"]?.GetValue<double>() ?? double.PositiveInfinity).First();
        return new JsonObject
        {
            ["rel_err"] = worst.R["rel_err"]?.GetValue<double>(),
            ["worst"] = worst.Name,
            ["nonfinite"] = list.Sum(p => p.R["nonfinite"]?.GetValue<int>() ?? 0),
            ["outputs"] = list.Count,
            ["pass"] = list.All(p => p.R["pass"]!.GetValue<bool>()),
        };
    }

    private JsonObject Gemm(GemmSpec s)
    {
        int la = (s.Batch - 1) * s.StrideA + s.M * s.K, lb = (s.Batch - 1) * s.StrideB + s.K * s.N, lc = (s.Batch - 1) * s.StrideC + s.M * s.N;
        var a = Rand(la); var b = Rand(lb);
        var c0 = s.Beta == 0f ? Enumerable.Repeat(float.NaN, lc).ToArray() : Rand(lc);
        var cc = Tensor.FromArray(Cpu, c0, lc);
        Cpu.Gemm(s, Tensor.FromArray(Cpu, a, la), Tensor.FromArray(Cpu, b, lb), cc);
        var want = cc.ToArray();
        // Stride gaps keep their poison on both sides; compare only what C covers.
        var covered = new bool[lc];
        for (int bi = 0; bi < s.Batch; bi++) for (int i = 0; i < s.M * s.N; i++) covered[bi * s.StrideC + i] = true;
        using var scope = new TensorScope();
        var ga = Tensor.FromArray(gpu, a, la); var gb = Tensor.FromArray(gpu, b, lb);
        var parts = new List<(string, JsonObject)>();
        void Run(string name, Action<Tensor> launch)
        {
            var gc = Tensor.FromArray(gpu, c0, lc);
            launch(gc);
            var got = gc.ToArray();
            var w = want.Where((_, i) => covered[i]).ToArray();
            var g = got.Where((_, i) => covered[i]).ToArray();
            var r = Compare(w, g, Tol);
            int written = got.Where((_, i) => !covered[i]).Count(v => !float.IsNaN(v));
            if (written > 0) { r["written_outside_c"] = written; r["pass"] = false; }
            parts.Add((name, r));
        }
        Run("backend", gc => gpu.Gemm(s, ga, gb, gc));
        if (gpu is IlgpuBackend ib)
        {
            Run("tiled", gc => { if (!ib.GemmTiled(s, ga, gb, gc, ib.GemmTile)) throw new InvalidOperationException("grid too large"); });
            Run("naive", gc => ib.GemmNaive(s, ga, gb, gc));
        }
        var res = Worst(parts);
        res["shape"] = s.ToString();
        return res;
    }

    private JsonObject Conv(ConvGeom g)
    {
        var x = R(g.N, g.Cin, g.H, g.W); var w = R(g.Cout, g.Cin, g.KH, g.KW); var bias = R(g.Cout);
        var dy = R(g.N, g.Cout, g.Hout, g.Wout);
        float[][] Run(Backend be)
        {
            using var scope = new TensorScope();
            var (xx, ww, bb, dd) = (x.To(be), w.To(be), bias.To(be), dy.To(be));
            var y = Tensor.Full(be, float.NaN, g.N, g.Cout, g.Hout, g.Wout);
            be.Conv2dForward(xx, ww, bb, y, g);
            var dx = Tensor.Full(be, 0.25f, g.N, g.Cin, g.H, g.W);
            be.Conv2dBackwardInput(dd, ww, dx, g);
            var dw = Tensor.Full(be, 0.25f, g.Cout, g.Cin, g.KH, g.KW);
            be.Conv2dBackwardWeight(xx, dd, dw, g);
            return [y.ToArray(), dx.ToArray(), dw.ToArray()];
        }
        var c = Run(Cpu); var d = Run(gpu);
        var res = Worst(new[] { "forward", "backward_input", "backward_weight" }.Select((n, i) => (n, Compare(c[i], d[i], Tol))));
        res["geometry"] = g.ToString();
        return res;
    }

    /// <summary>PixelSNAIL's k×k causal kernel mask: every tap of the rows above, the last row up to the centre.</summary>
    private static Tensor CausalMask(Backend be, int k)
    {
        var m = new float[k * k];
        Array.Fill(m, 1f);
        for (int c = k / 2 + 1; c < k; c++) m[(k - 1) * k + c] = 0f;
        return Tensor.FromArray(be, m, k, k);
    }

    /// <summary>One op's output and the gradients of its inputs (upstream: random), on cpu and on the device from the same inputs.</summary>
    private JsonObject OpGrads(string[] names, Func<Backend, Tensor[], Tensor> op, params Tensor[] inputs)
    {
        float[][] Run(Backend be, float[] up)
        {
            using var scope = new TensorScope();
            var t = inputs.Select(i => i.To(be)).ToArray();
            foreach (var i in t) i.RequiresGrad = true;
            var y = op(be, t);
            y.Backward(Tensor.FromArray(be, up, y.Shape));
            return [y.ToArray(), .. t.Select(i => i.Grad!.ToArray())];
        }
        float[] upstream;
        using (new TensorScope()) { using var _ = Autograd.NoGrad(); upstream = Rand(op(Cpu, inputs).Numel); }
        var c = Run(Cpu, upstream); var d = Run(gpu, upstream);
        return Worst(names.Select((n, i) => (n, Compare(c[i], d[i], Tol))));
    }

    private JsonObject Attention()
    {
        var (b, cq, ck, dk, dv, h) = sz.ParityAttention;
        var inputs = new[] { R(b, cq, h, h), R(b, ck, h, h), R(dk, cq), R(dk), R(dk, ck), R(dk), R(dv, ck), R(dv) };
        var up = R(b, dv, h, h);
        float[][] Run(Backend be)
        {
            using var scope = new TensorScope();
            var t = inputs.Select(i => i.To(be)).ToArray();
            foreach (var i in t) i.RequiresGrad = true;
            var y = F.CausalAttention(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], 1, false);
            y.Backward(up.To(be));
            return [y.ToArray(), .. t.Select(i => i.Grad!.ToArray())];
        }
        var c = Run(Cpu); var d = Run(gpu);
        string[] names = ["output", "d_query", "d_key", "d_wq", "d_bq", "d_wk", "d_bk", "d_wv", "d_bv"];
        int bk = Array.IndexOf(names, "d_bk");
        // d_bk is zero in exact arithmetic (softmax ignores the per-row constant q·b_k), so both sides hold rounding
        // noise and a relative error means nothing; bound it absolutely by the size of the score path's other gradients.
        double scale = new[] { "d_wq", "d_bq", "d_wk" }.Max(nm => c[Array.IndexOf(names, nm)].Max(v => Math.Abs((double)v)));
        var res = Worst(names.Select((n, i) => (n, i == bk ? CompareNearZero(c[i], d[i], scale, Tol) : Compare(c[i], d[i], Tol))));
        res["shape"] = $"B={b} N={h * h} cq={cq} ck={ck} dk={dk} dv={dv}";
        return res;
    }

    /// <summary>Indices must agree except where two codes are equally near within float rounding (then either is right).</summary>
    private JsonObject Argmin()
    {
        var (n, d, h, k) = sz.ParityArgmin;
        int hw = h * h;
        var z = Rand(n * d * hw); var cb = Rand(k * d);
        int[] Run(Backend be)
        {
            using var scope = new TensorScope();
            var idx = Tensor.FromArray(be, Enumerable.Repeat(-1, n * hw).ToArray(), n, h, h);
            be.NearestCode(Tensor.FromArray(be, z, n, d, h, h), Tensor.FromArray(be, cb, k, d), idx, n, d, hw, k);
            return idx.ToIntArray();
        }
        var c = Run(Cpu); var g = Run(gpu);
        int mismatch = 0, wrong = 0, unwritten = 0;
        for (int p = 0; p < c.Length; p++)
        {
            if (c[p] == g[p]) continue;
            mismatch++;
            if (g[p] < 0 || g[p] >= k) { unwritten++; continue; }
            int img = p / hw, pos = p % hw;
            double Dist(int code)
            {
                double s = 0;
                for (int j = 0; j < d; j++) { double diff = z[(img * d + j) * hw + pos] - cb[code * d + j]; s += diff * diff; }
                return s;
            }
            double dc = Dist(c[p]), dg = Dist(g[p]);
            if (Math.Abs(dg - dc) > 1e-5 * (1 + dc)) wrong++;
        }
        return new JsonObject
        {
            ["positions"] = c.Length, ["k"] = k, ["d"] = d,
            ["mismatches"] = mismatch, ["mismatches_not_ties"] = wrong, ["unwritten_or_out_of_range"] = unwritten,
            ["pass"] = wrong == 0 && unwritten == 0,
        };
    }

    private JsonObject Softmax()
    {
        int n = 3, c = 17, hw = 29, batch = 5, rows = 37;
        var x = R(n, c, hw); var scores = R(batch, rows, rows);
        float[][] Run(Backend be)
        {
            using var scope = new TensorScope();
            var xx = x.To(be);
            var y = Tensor.Full(be, float.NaN, n, c, hw); be.SoftmaxChannels(xx, y, n, c, hw, false);
            var ly = Tensor.Full(be, float.NaN, n, c, hw); be.SoftmaxChannels(xx, ly, n, c, hw, true);
            var p = Tensor.Full(be, float.NaN, batch, rows, rows); be.MaskedSoftmaxRows(scores.To(be), p, batch, rows, 0.25f, false);
            var ps = Tensor.Full(be, float.NaN, batch, rows, rows); be.MaskedSoftmaxRows(scores.To(be), ps, batch, rows, 0.25f, true);
            return [y.ToArray(), ly.ToArray(), p.ToArray(), ps.ToArray()];
        }
        var cr = Run(Cpu); var g = Run(gpu);
        string[] names = ["softmax_channels", "log_softmax_channels", "masked_softmax_rows", "masked_softmax_rows_strict"];
        return Worst(names.Select((nm, i) => (nm, Compare(cr[i], g[i], Tol))));
    }

    private static void CopyState(NativeVq.Nn.Module from, NativeVq.Nn.Module to)
    {
        var dst = to.StateDict().ToDictionary(p => p.Name, p => p.Tensor);
        foreach (var (name, t) in from.StateDict())
        {
            if (t.DType == DType.F32) dst[name].Backend.Upload(t.ToArray(), dst[name].Memory);
            else dst[name].Backend.Upload(t.ToIntArray(), dst[name].Memory);
        }
    }

    private JsonObject ModelGrads(NativeVq.Nn.Module cpu, NativeVq.Nn.Module dev, Func<NativeVq.Nn.Module, Backend, Tensor> loss)
    {
        CopyState(cpu, dev);
        using var scope = new TensorScope();
        var lc = loss(cpu, Cpu); var lg = loss(dev, gpu);
        var parts = new List<(string, JsonObject)> { ("loss", Compare(lc.ToArray(), lg.ToArray(), ModelTol)) };
        lc.Backward(); lg.Backward();
        var gp = dev.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        foreach (var (name, p) in cpu.NamedParameters())
            parts.Add(("grad " + name, Compare(p.Grad!.ToArray(), gp[name].Grad!.ToArray(), ModelTol)));
        var res = Worst(parts);
        res["loss_cpu"] = lc.ToArray()[0];
        res["loss_device"] = lg.ToArray()[0];
        return res;
    }

    private JsonObject VqVae()
    {
        var cfg = sz.VqVae;
        int b = sz.ParityBatch, s = cfg.ImageSize;
        var x = Rand(b * cfg.ImageChannels * s * s);
        return ModelGrads(new VqVae(Cpu, cfg, 3), new VqVae(gpu, cfg, 3),
            (m, be) => ((VqVae)m).Forward(Tensor.FromArray(be, x, b, cfg.ImageChannels, s, s)).Loss);
    }

    private JsonObject PixelSnail()
    {
        var cfg = sz.PixelSnail;
        int b = sz.ParityBatch;
        var codes = Enumerable.Range(0, b * cfg.Height * cfg.Width).Select(_ => _seedRng.Next(cfg.Codes)).ToArray();
        return ModelGrads(new PixelSnail(Cpu, cfg, 4), new PixelSnail(gpu, cfg, 4),
            (m, be) => ((PixelSnail)m).Loss(Tensor.FromArray(be, codes, b, cfg.Height, cfg.Width)));
    }
}
