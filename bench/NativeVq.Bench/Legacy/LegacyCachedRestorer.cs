using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using NativeVq.Cpu;
using NativeVq.Anomaly.Scoring;
using NativeVq.Models;

namespace NativeVq.Bench.Legacy;

/// <summary>
/// The per-position restorer as it was before issue 12 (a hand-written second forward pass keyed on state-dict
/// names, one core, matrix-vector kernels of 4 lanes): kept in the bench only as the "old" side of the
/// old/new ratio that RestorationBench reports in the same run. Not used by the product.
/// </summary>
public sealed class LegacyCachedRestorer : IRestorer
{
    public int[] Restore(PixelSnail prior, ReadOnlySpan<int> codes, ReadOnlySpan<bool> resample, int count, ulong seed, float temperature = 1f)
    {
        if (prior.Backend is not CpuBackend) return new IncrementalRestorer().Restore(prior, codes, resample, count, seed, temperature);
        var cfg = prior.Config;
        int h = cfg.Height, w = cfg.Width, hw = h * w, k = cfg.Codes;
        if (codes.Length != hw || resample.Length != hw) throw new ArgumentException($"restore: expected {hw} codes and flags for a {h}x{w} grid");
        var result = new int[count * hw];
        for (int s = 0; s < count; s++) codes.CopyTo(result.AsSpan(s * hw, hw));
        if (count == 0) return result;
        int first = resample.IndexOf(true), last = resample.LastIndexOf(true);
        if (first < 0) return result;

        var net = LegacyPositionNet.For(prior);
        var run = new LegacyPositionNet.Run(net, count);
        var rngs = new Rng[count];
        for (int s = 0; s < count; s++) rngs[s] = Restoration.StreamFor(seed, s);
        var logits = new float[k];

        // Shared prefix: every restoration sees the input map at positions < first, so one lane computes it.
        for (int q = 0; q <= first; q++) run.Advance(q, result, 1);
        for (int s = 0; s < count; s++)
        {
            run.Logits(0, logits);
            result[s * hw + first] = PriorSampler.Draw(logits, 0, 0, k, 1, rngs[s], temperature);
        }
        run.BroadcastPrefix(first + 1);

        for (int q = first + 1; q <= last; q++)
        {
            run.Advance(q, result, count);
            if (!resample[q]) continue;
            for (int s = 0; s < count; s++)
            {
                run.Logits(s, logits);
                result[s * hw + q] = PriorSampler.Draw(logits, 0, 0, k, 1, rngs[s], temperature);
            }
        }
        return result;
    }
}

/// <summary>
/// The prior's weights rearranged for per-position evaluation (see <see cref="CachedRestorer"/>), and a
/// <see cref="Run"/> holding the activation caches of S restorations. Layouts are position-major: a cache is
/// [lane, position, channel], so one position's channel vector is contiguous.
/// </summary>
internal sealed class LegacyPositionNet
{
    /// <summary>The GEMM's K block (CpuGemm.KC): per-element sums are FMA chains within a block, blocks added in order.</summary>
    private const int KC = 256;

    public int H, W, HW, K, C;
    public bool Attention, Strict;
    public int Heads, Dk, Dv;
    public Conv Down = null!, DownRight = null!, Out = null!;
    public Stage[] Stages = null!;
    public float[] Bg = null!;   // [2, HW]

    internal sealed class Conv
    {
        public int Cin, O, Opad, KH, KW, PadTop, PadLeft, Kfull;
        public float[] WT = null!;      // [Kfull, Opad]: W[o, k]·mask, zero-padded columns
        public float[]? Bias;
        public bool[] Tap = null!;      // tap (u, v) has a nonzero mask
    }

    internal sealed class Stage
    {
        public Conv[] C1 = null!, C2 = null!;                 // masked res blocks
        public Conv KeyC1 = null!, KeyC2 = null!, QueryC1 = null!, QueryC2 = null!, OutC1 = null!, OutC2 = null!, OutAux = null!;
        public Conv Q = null!, Kp = null!, V = null!;          // attention projections (1×1)
    }

    private sealed class Snapshot
    {
        public float[][] Raw = [];
        public LegacyPositionNet? Net;
    }

    private static readonly ConditionalWeakTable<PixelSnail, Snapshot> Cache = new();

    /// <summary>
    /// The rearranged weights of <paramref name="prior"/>, rebuilt only when a weight or buffer changed since the
    /// last call (every call compares the current values with a snapshot: a copy and a compare, far cheaper
    /// than the rearrangement, and exact however the weights were changed).
    /// </summary>
    public static LegacyPositionNet For(PixelSnail prior)
    {
        var current = prior.StateDict().Select(t => t.Tensor.ToArray()).ToArray();
        var snap = Cache.GetOrCreateValue(prior);
        lock (snap)
        {
            bool same = snap.Net is not null && snap.Raw.Length == current.Length;
            for (int i = 0; same && i < current.Length; i++) same = current[i].AsSpan().SequenceEqual(snap.Raw[i]);
            if (!same)
            {
                snap.Net = Build(prior);
                snap.Raw = current;
            }
            return snap.Net!;
        }
    }

    public static LegacyPositionNet Build(PixelSnail prior)
    {
        var cfg = prior.Config;
        var sd = prior.StateDict().ToDictionary(t => t.Name, t => t.Tensor);
        float[]? Arr(string name) => sd.TryGetValue(name, out var t) ? t.ToArray() : null;
        Conv Make(string prefix, bool masked, int padTop, int padLeft)
        {
            string wn = masked ? prefix + ".conv.weight" : prefix + ".weight";
            string bn = masked ? prefix + ".conv.bias" : prefix + ".bias";
            var wt = sd[wn];
            int o = wt.Dim(0), cin = wt.Dim(1), kh = wt.Rank == 4 ? wt.Dim(2) : 1, kw = wt.Rank == 4 ? wt.Dim(3) : 1;
            return Prepare(wt.ToArray(), Arr(bn), masked ? Arr(prefix + ".mask") : null, o, cin, kh, kw, padTop, padLeft);
        }
        int sk = cfg.StemKernelSize, ks = cfg.KernelSize;
        var net = new LegacyPositionNet
        {
            H = cfg.Height, W = cfg.Width, HW = cfg.Height * cfg.Width, K = cfg.Codes, C = cfg.Channels,
            Attention = cfg.Attention, Strict = cfg.StrictAttention, Heads = cfg.Heads, Dk = cfg.KeyDim, Dv = cfg.ValueDim,
            Bg = PixelSnail.BackgroundValues(1, cfg.Height, cfg.Width),
        };
        // Geometry as in PixelSnail / MaskedConv: down pad (sk/2, sk/2, sk/2−1, 0), downright (sk/2−1, 0, sk/2, 0).
        net.Down = Make("down", true, sk / 2 - 1, sk / 2);
        net.DownRight = Make("downright", true, sk / 2, sk / 2 - 1);
        net.Out = Make("out", false, 0, 0);
        net.Stages = new Stage[cfg.Blocks];
        bool maskedRes = ks > 0;
        for (int s = 0; s < cfg.Blocks; s++)
        {
            string p = $"stages.{s}.";
            var st = new Stage { C1 = new Conv[cfg.ResBlocks], C2 = new Conv[cfg.ResBlocks] };
            for (int r = 0; r < cfg.ResBlocks; r++)
            {
                st.C1[r] = Make($"{p}res.{r}.c1", maskedRes, ks - 1, ks / 2);
                st.C2[r] = Make($"{p}res.{r}.c2", maskedRes, ks - 1, ks / 2);
            }
            if (cfg.Attention)
            {
                st.KeyC1 = Make(p + "key_res.c1", false, 0, 0);
                st.KeyC2 = Make(p + "key_res.c2", false, 0, 0);
                st.QueryC1 = Make(p + "query_res.c1", false, 0, 0);
                st.QueryC2 = Make(p + "query_res.c2", false, 0, 0);
                st.OutC1 = Make(p + "out_res.c1", false, 0, 0);
                st.OutC2 = Make(p + "out_res.c2", false, 0, 0);
                st.OutAux = Make(p + "out_res.aux", false, 0, 0);
                st.Q = Make(p + "attn.q", false, 0, 0);
                st.Kp = Make(p + "attn.k", false, 0, 0);
                st.V = Make(p + "attn.v", false, 0, 0);
            }
            net.Stages[s] = st;
        }
        return net;
    }

    private static Conv Prepare(float[] w, float[]? bias, float[]? mask, int o, int cin, int kh, int kw, int padTop, int padLeft)
    {
        int taps = kh * kw, kfull = cin * taps, opad = (o + 15) / 16 * 16;
        var c = new Conv
        {
            Cin = cin, O = o, Opad = opad, KH = kh, KW = kw, PadTop = padTop, PadLeft = padLeft, Kfull = kfull,
            WT = new float[kfull * opad], Bias = bias, Tap = new bool[taps],
        };
        for (int t = 0; t < taps; t++) c.Tap[t] = mask is null || mask[t] != 0f;
        for (int oc = 0; oc < o; oc++)
            for (int k = 0; k < kfull; k++)
                c.WT[k * opad + oc] = mask is null ? w[oc * kfull + k] : w[oc * kfull + k] * mask[k % taps];   // = F.Mul(w, mask)
        return c;
    }

    /// <summary>
    /// outs[l, 0..Opad) = Σ_blocks (FMA chain over the listed k of one KC block) for each lane l — the GEMM's
    /// per-element arithmetic restricted to the terms that are not structurally zero. cols[l·colStride + i] is
    /// the input value of term i (k = ks[i], ascending). Bias is added by the caller.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MatVec(ReadOnlySpan<int> ks, float[] cols, int colStride, int lanes, Conv cv, float[] outs, int outStride)
    {
        int n = ks.Length, opad = cv.Opad;
        ref float wt = ref MemoryMarshal.GetArrayDataReference(cv.WT);
        ref float cr = ref MemoryMarshal.GetArrayDataReference(cols);
        ref float orf = ref MemoryMarshal.GetArrayDataReference(outs);
        int l0 = 0;
        for (; l0 + 4 <= lanes; l0 += 4)
        {
            int b0 = l0 * colStride, b1 = b0 + colStride, b2 = b1 + colStride, b3 = b2 + colStride;
            for (int o = 0; o < opad; o += 16)
            {
                Vector512<float> r0 = default, r1 = default, r2 = default, r3 = default;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                int blk = n > 0 ? ks[0] / KC : 0;
                for (int i = 0; i < n; i++)
                {
                    int k = ks[i];
                    if (k / KC != blk) { r0 += a0; r1 += a1; r2 += a2; r3 += a3; a0 = a1 = a2 = a3 = default; blk = k / KC; }
                    var wv = Vector512.LoadUnsafe(ref wt, (nuint)(k * opad + o));
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref cr, b0 + i)), wv, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref cr, b1 + i)), wv, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref cr, b2 + i)), wv, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref cr, b3 + i)), wv, a3);
                }
                r0 += a0; r1 += a1; r2 += a2; r3 += a3;
                r0.StoreUnsafe(ref orf, (nuint)(l0 * outStride + o));
                r1.StoreUnsafe(ref orf, (nuint)((l0 + 1) * outStride + o));
                r2.StoreUnsafe(ref orf, (nuint)((l0 + 2) * outStride + o));
                r3.StoreUnsafe(ref orf, (nuint)((l0 + 3) * outStride + o));
            }
        }
        for (; l0 < lanes; l0++)
        {
            int b0 = l0 * colStride;
            int o = 0;
            for (; o + 64 <= opad; o += 64)
            {
                Vector512<float> r0 = default, r1 = default, r2 = default, r3 = default;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                int blk = n > 0 ? ks[0] / KC : 0;
                for (int i = 0; i < n; i++)
                {
                    int k = ks[i];
                    if (k / KC != blk) { r0 += a0; r1 += a1; r2 += a2; r3 += a3; a0 = a1 = a2 = a3 = default; blk = k / KC; }
                    var x = Vector512.Create(Unsafe.Add(ref cr, b0 + i));
                    int wo = k * opad + o;
                    a0 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wt, (nuint)wo), a0);
                    a1 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wt, (nuint)(wo + 16)), a1);
                    a2 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wt, (nuint)(wo + 32)), a2);
                    a3 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wt, (nuint)(wo + 48)), a3);
                }
                r0 += a0; r1 += a1; r2 += a2; r3 += a3;
                int d = l0 * outStride + o;
                r0.StoreUnsafe(ref orf, (nuint)d);
                r1.StoreUnsafe(ref orf, (nuint)(d + 16));
                r2.StoreUnsafe(ref orf, (nuint)(d + 32));
                r3.StoreUnsafe(ref orf, (nuint)(d + 48));
            }
            for (; o < opad; o += 16)
            {
                Vector512<float> r0 = default, a0 = default;
                int blk = n > 0 ? ks[0] / KC : 0;
                for (int i = 0; i < n; i++)
                {
                    int k = ks[i];
                    if (k / KC != blk) { r0 += a0; a0 = default; blk = k / KC; }
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref cr, b0 + i)), Vector512.LoadUnsafe(ref wt, (nuint)(k * opad + o)), a0);
                }
                r0 += a0;
                r0.StoreUnsafe(ref orf, (nuint)(l0 * outStride + o));
            }
        }
        if (cv.Bias is { } bias)
            for (int l = 0; l < lanes; l++)
            {
                var y = outs.AsSpan(l * outStride, cv.O);
                for (int oc = 0; oc < y.Length; oc++) y[oc] += bias[oc];   // AddChannelBias: y + b, one rounding
            }
    }

    /// <summary>The activation caches and scratch of S restorations (lanes).</summary>
    internal sealed class Run
    {
        private readonly LegacyPositionNet _n;
        private readonly int _lanes;
        // Caches read at other positions: per stage and res block, ELU(x) (c1's input) and ELU(c1) (c2's input);
        // per attention stage, the key and value projections.
        private readonly float[][][] _e1, _e2;
        private readonly float[][] _kp, _vp;
        // Per-position scratch, [lane, channels] with stride Wide.
        private readonly int _wide;
        private readonly float[] _cur, _inp, _cat, _ecat, _h, _e, _y, _y2, _g, _qv, _att, _cols, _sig, _stemA, _stemB, _final;
        private readonly int[] _ks, _ident;
        private readonly float[] _row;

        public Run(LegacyPositionNet n, int lanes)
        {
            _n = n;
            _lanes = lanes;
            int hw = n.HW, c = n.C;
            _e1 = new float[n.Stages.Length][][];
            _e2 = new float[n.Stages.Length][][];
            _kp = new float[n.Stages.Length][];
            _vp = new float[n.Stages.Length][];
            for (int s = 0; s < n.Stages.Length; s++)
            {
                int rb = n.Stages[s].C1.Length;
                _e1[s] = new float[rb][];
                _e2[s] = new float[rb][];
                for (int r = 0; r < rb; r++)
                {
                    _e1[s][r] = new float[lanes * hw * c];
                    _e2[s][r] = new float[lanes * hw * c];
                }
                if (n.Attention)
                {
                    _kp[s] = new float[lanes * hw * n.Dk];
                    _vp[s] = new float[lanes * hw * n.Dv];
                }
            }
            int maxO = Math.Max(n.K, Math.Max(4 * c + 4, Math.Max(n.Dk, n.Dv)));
            _wide = (Math.Max(maxO, 2 * c + 2) + 15) / 16 * 16;
            float[] Lane() => new float[lanes * _wide];
            _cur = Lane(); _inp = Lane(); _cat = Lane(); _ecat = Lane(); _h = Lane(); _e = Lane(); _y = Lane(); _y2 = Lane();
            _g = Lane(); _qv = Lane(); _att = Lane(); _stemA = Lane(); _stemB = Lane(); _final = Lane();
            int maxK = 0;
            foreach (var cv in AllConvs(n)) maxK = Math.Max(maxK, cv.Kfull);
            _cols = new float[lanes * maxK];
            _ks = new int[maxK];
            _ident = Enumerable.Range(0, maxK).ToArray();
            _sig = new float[lanes * _wide];
            _row = new float[hw];
        }

        private static IEnumerable<Conv> AllConvs(LegacyPositionNet n)
        {
            yield return n.Down; yield return n.DownRight; yield return n.Out;
            foreach (var s in n.Stages)
            {
                foreach (var c in s.C1) yield return c;
                foreach (var c in s.C2) yield return c;
                if (!n.Attention) continue;
                foreach (var c in new[] { s.KeyC1, s.KeyC2, s.QueryC1, s.QueryC2, s.OutC1, s.OutC2, s.OutAux, s.Q, s.Kp, s.V }) yield return c;
            }
        }

        /// <summary>Copies lane 0's cached positions [0, count) to every other lane (the shared prefix).</summary>
        public void BroadcastPrefix(int count)
        {
            void Copy(float[] a, int ch)
            {
                int per = _n.HW * ch, len = count * ch;
                for (int l = 1; l < _lanes; l++) Array.Copy(a, 0, a, l * per, len);
            }
            for (int s = 0; s < _n.Stages.Length; s++)
            {
                foreach (var a in _e1[s]) Copy(a, _n.C);
                foreach (var a in _e2[s]) Copy(a, _n.C);
                if (_n.Attention) { Copy(_kp[s], _n.Dk); Copy(_vp[s], _n.Dv); }
            }
        }

        /// <summary>Logits [K] of lane <paramref name="lane"/> at the position last advanced: out(ELU(h)).</summary>
        public void Logits(int lane, float[] logits)
        {
            var o = _n.Out;
            int c = _n.C;
            CpuElementwise.Unary(UnaryOp.Elu, _final.AsSpan(lane * _wide, c), _cols.AsSpan(0, c));
            MatVec(_ident.AsSpan(0, c), _cols, c, 1, o, _y, _wide);
            _y.AsSpan(0, _n.K).CopyTo(logits);
        }

        /// <summary>Evaluates every layer at position q for lanes [0, lanes); codes of lane l are codes[l·HW ..].</summary>
        public void Advance(int q, int[] codes, int lanes)
        {
            var n = _n;
            int c = n.C, hw = n.HW, wd = _wide;
            int i = q / n.W, j = q % n.W;
            // Stem: down_shift(down(x)) + right_shift(downright(x)) on one-hot x.
            for (int l = 0; l < lanes; l++)
            {
                var a = _stemA.AsSpan(l * wd, c);
                var b = _stemB.AsSpan(l * wd, c);
                if (i >= 1) OneHotConvAt(n.Down, i - 1, j, codes, l, a, l * wd); else a.Clear();
                if (j >= 1) OneHotConvAt(n.DownRight, i, j - 1, codes, l, b, l * wd); else b.Clear();
                var cur = _cur.AsSpan(l * wd, c);
                for (int t = 0; t < c; t++) cur[t] = a[t] + b[t];
            }
            for (int s = 0; s < n.Stages.Length; s++)
            {
                var st = n.Stages[s];
                for (int l = 0; l < lanes; l++) _cur.AsSpan(l * wd, c).CopyTo(_inp.AsSpan(l * wd, c));
                for (int r = 0; r < st.C1.Length; r++)
                {
                    var e1 = _e1[s][r];
                    var e2 = _e2[s][r];
                    for (int l = 0; l < lanes; l++)
                        CpuElementwise.Unary(UnaryOp.Elu, _cur.AsSpan(l * wd, c), e1.AsSpan((l * hw + q) * c, c));
                    DenseConvAt(st.C1[r], e1, i, j, lanes, _h);
                    for (int l = 0; l < lanes; l++)
                        CpuElementwise.Unary(UnaryOp.Elu, _h.AsSpan(l * wd, c), e2.AsSpan((l * hw + q) * c, c));
                    DenseConvAt(st.C2[r], e2, i, j, lanes, _y);
                    GluAdd(_cur, _y, c, lanes);
                }
                if (!n.Attention) continue;
                // key = GatedRes1x1(cat(inp, out, bg)), query = GatedRes1x1(cat(out, bg)).
                float bg0 = n.Bg[q], bg1 = n.Bg[hw + q];
                int ck = 2 * c + 2, cq = c + 2;
                for (int l = 0; l < lanes; l++)
                {
                    var cat = _cat.AsSpan(l * wd, ck);
                    _inp.AsSpan(l * wd, c).CopyTo(cat);
                    _cur.AsSpan(l * wd, c).CopyTo(cat[c..]);
                    cat[2 * c] = bg0; cat[2 * c + 1] = bg1;
                }
                GatedRes1x1(st.KeyC1, st.KeyC2, null, _cat, ck, lanes);   // _cat becomes the key
                ProjectAt(st.Kp, _cat, ck, lanes, _kp[s], n.Dk, q);
                ProjectAt(st.V, _cat, ck, lanes, _vp[s], n.Dv, q);
                for (int l = 0; l < lanes; l++)
                {
                    var cat = _cat.AsSpan(l * wd, cq);
                    _cur.AsSpan(l * wd, c).CopyTo(cat);
                    cat[c] = bg0; cat[c + 1] = bg1;
                }
                GatedRes1x1(st.QueryC1, st.QueryC2, null, _cat, cq, lanes);   // _cat becomes the query
                Gather(_cat, cq, lanes);
                MatVec(_ident.AsSpan(0, cq), _cols, cq, lanes, st.Q, _qv, wd);
                for (int l = 0; l < lanes; l++) AttendAt(s, l, q);
                // out = GatedRes1x1(out, aux = attention).
                GatedRes1x1(st.OutC1, st.OutC2, st.OutAux, _cur, c, lanes);
            }
            for (int l = 0; l < lanes; l++) _cur.AsSpan(l * wd, c).CopyTo(_final.AsSpan(l * wd, c));
        }

        /// <summary>Conv on a one-hot map at output (oi, oj) for one lane: terms k = (code·KH + u)·KW + v with value 1, k ascending.</summary>
        private void OneHotConvAt(Conv cv, int oi, int oj, int[] codes, int lane, Span<float> dst, int dstOffset)
        {
            var n = _n;
            int cnt = 0;
            var ks = _ks;
            for (int u = 0; u < cv.KH; u++)
            {
                int ii = oi - cv.PadTop + u;
                if ((uint)ii >= (uint)n.H) continue;
                for (int v = 0; v < cv.KW; v++)
                {
                    int jj = oj - cv.PadLeft + v;
                    if ((uint)jj >= (uint)n.W || !cv.Tap[u * cv.KW + v]) continue;
                    int k = (codes[lane * n.HW + ii * n.W + jj] * cv.KH + u) * cv.KW + v;
                    int p = cnt++;
                    while (p > 0 && ks[p - 1] > k) { ks[p] = ks[p - 1]; p--; }
                    ks[p] = k;
                }
            }
            _cols.AsSpan(0, cnt).Fill(1f);
            MatVec(ks.AsSpan(0, cnt), _cols, 0, 1, cv, _g, _wide);
            _g.AsSpan(0, cv.O).CopyTo(dst);
        }

        /// <summary>A (masked) k×k conv at output (i, j) for all lanes, reading a position-major cache.</summary>
        private void DenseConvAt(Conv cv, float[] cache, int oi, int oj, int lanes, float[] outs)
        {
            var n = _n;
            int cin = cv.Cin, hw = n.HW, cnt = 0, stride = cv.Kfull;
            var ks = _ks;
            var cols = _cols;
            for (int ci = 0; ci < cin; ci++)
                for (int u = 0; u < cv.KH; u++)
                {
                    int ii = oi - cv.PadTop + u;
                    if ((uint)ii >= (uint)n.H) continue;
                    for (int v = 0; v < cv.KW; v++)
                    {
                        int jj = oj - cv.PadLeft + v;
                        if ((uint)jj >= (uint)n.W || !cv.Tap[u * cv.KW + v]) continue;
                        int pos = ii * n.W + jj;
                        for (int l = 0; l < lanes; l++) cols[l * stride + cnt] = cache[(l * hw + pos) * cin + ci];
                        ks[cnt++] = (ci * cv.KH + u) * cv.KW + v;
                    }
                }
            MatVec(ks.AsSpan(0, cnt), cols, stride, lanes, cv, outs, _wide);
        }

        /// <summary>Copies [lane, 0..ch) of a scratch into the column buffer (stride ch).</summary>
        private void Gather(float[] src, int ch, int lanes)
        {
            for (int l = 0; l < lanes; l++) src.AsSpan(l * _wide, ch).CopyTo(_cols.AsSpan(l * ch, ch));
        }

        private void ProjectAt(Conv cv, float[] src, int ch, int lanes, float[] cache, int d, int q)
        {
            Gather(src, ch, lanes);
            MatVec(_ident.AsSpan(0, ch), _cols, ch, lanes, cv, _y2, _wide);
            for (int l = 0; l < lanes; l++) _y2.AsSpan(l * _wide, d).CopyTo(cache.AsSpan((l * _n.HW + q) * d, d));
        }

        /// <summary>x += GLU(c2(ELU(c1(ELU(x)))) [+ aux(ELU(a))]) at one position (1×1 convs), in place on x [lane, ch].</summary>
        private void GatedRes1x1(Conv c1, Conv c2, Conv? aux, float[] x, int ch, int lanes)
        {
            int wd = _wide;
            for (int l = 0; l < lanes; l++) CpuElementwise.Unary(UnaryOp.Elu, x.AsSpan(l * wd, ch), _cols.AsSpan(l * ch, ch));
            MatVec(_ident.AsSpan(0, ch), _cols, ch, lanes, c1, _h, wd);
            int hc = c1.O;
            for (int l = 0; l < lanes; l++) CpuElementwise.Unary(UnaryOp.Elu, _h.AsSpan(l * wd, hc), _cols.AsSpan(l * hc, hc));
            MatVec(_ident.AsSpan(0, hc), _cols, hc, lanes, c2, _y, wd);
            if (aux is not null)
            {
                int ac = aux.Cin;
                for (int l = 0; l < lanes; l++) CpuElementwise.Unary(UnaryOp.Elu, _att.AsSpan(l * wd, ac), _cols.AsSpan(l * ac, ac));
                MatVec(_ident.AsSpan(0, ac), _cols, ac, lanes, aux, _y2, wd);
                for (int l = 0; l < lanes; l++)
                {
                    var y = _y.AsSpan(l * wd, c2.O);
                    var ya = _y2.AsSpan(l * wd, c2.O);
                    for (int t = 0; t < y.Length; t++) y[t] = y[t] + ya[t];
                }
            }
            GluAdd(x, _y, ch, lanes);
        }

        /// <summary>x[l, c] = x + y[c]·σ(y[ch + c]) — GLU then the residual add, with the kernel's sigmoid path.</summary>
        private void GluAdd(float[] x, float[] y, int ch, int lanes)
        {
            int wd = _wide;
            var sig = _sig;
            for (int l = 0; l < lanes; l++) y.AsSpan(l * wd + ch, ch).CopyTo(sig.AsSpan(l * ch, ch));
            int total = lanes * ch;
            VectorMath.Sigmoid(sig.AsSpan(0, total), sig.AsSpan(0, total));
            for (int l = 0; l < lanes; l++)
            {
                var xs = x.AsSpan(l * wd, ch);
                var a = y.AsSpan(l * wd, ch);
                var g = sig.AsSpan(l * ch, ch);
                for (int t = 0; t < ch; t++) xs[t] = xs[t] + g[t] * a[t];
            }
        }

        /// <summary>Causal attention for query position q of lane l, head by head, into _att[l].</summary>
        private void AttendAt(int s, int l, int q)
        {
            var n = _n;
            int hw = n.HW, dk = n.Dk, dv = n.Dv, dh = dk / n.Heads, dvh = dv / n.Heads;
            int len = n.Strict ? q : q + 1;
            float scale = 1f / MathF.Sqrt(dh);
            var kp = _kp[s];
            var vp = _vp[s];
            var qv = _qv.AsSpan(l * _wide, dk);
            var att = _att.AsSpan(l * _wide, dv);
            var row = _row.AsSpan(0, len);
            for (int hd = 0; hd < n.Heads; hd++)
            {
                // S[q, t] = Σ_d q[d]·k[d, t]: one FMA chain per t (K = dh, blocks of KC).
                for (int t = 0; t < len; t++)
                {
                    int kb = (l * hw + t) * dk + hd * dh;
                    float acc = 0f, res = 0f;
                    for (int d = 0; d < dh; d++)
                    {
                        if (d > 0 && d % KC == 0) { res += acc; acc = 0f; }
                        acc = MathF.FusedMultiplyAdd(qv[hd * dh + d], kp[kb + d], acc);
                    }
                    row[t] = res + acc;
                }
                if (len > 0)
                {
                    // CpuSoftmax.MaskedSoftmaxRows, the same calls on the same row length.
                    TensorPrimitives.Multiply(row, scale, row);
                    float m = TensorPrimitives.Max(row);
                    TensorPrimitives.Subtract(row, m, row);
                    VectorMath.Exp(row, row);
                    TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Sum(row), row);
                }
                // out[e, q] = Σ_t v[e, t]·P[q, t] (K = HW, blocks of KC; P = 0 for t ≥ len).
                for (int e = 0; e < dvh; e++)
                {
                    int ve = hd * dvh + e;
                    float acc = 0f, res = 0f;
                    for (int t = 0; t < len; t++)
                    {
                        if (t > 0 && t % KC == 0) { res += acc; acc = 0f; }
                        acc = MathF.FusedMultiplyAdd(vp[(l * hw + t) * dv + ve], row[t], acc);
                    }
                    att[ve] = res + acc;
                }
            }
        }
    }
}
