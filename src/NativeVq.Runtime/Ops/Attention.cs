namespace NativeVq;

public static partial class F
{
    /// <summary>
    /// PixelSNAIL's causal attention (reference <c>CausalAttention</c> in shared/peer): q = Linear(query),
    /// k = Linear(key), v = Linear(key) over channels at every position, positions in raster order
    /// (n = i·W + j), heads split on channels, per-head scale 1/√(dk/heads), mask t ≤ s (t &lt; s when
    /// <paramref name="strict"/>; row 0 is then all zeros, so its output is exactly 0). No output
    /// projection. query [B, Cq, H, W], key [B, Ck, H, W], wq/wk [dk, Cq|Ck], wv [dv, Ck] → [B, dv, H, W].
    /// </summary>
    public static Tensor CausalAttention(Tensor query, Tensor key,
        Tensor wq, Tensor? bq, Tensor wk, Tensor? bk, Tensor wv, Tensor? bv, int heads = 1, bool strict = false)
    {
        if (query.Rank != 4 || key.Rank != 4 || query.Dim(0) != key.Dim(0) || query.Dim(2) != key.Dim(2) || query.Dim(3) != key.Dim(3))
            throw new ArgumentException($"causal_attention: query {ShapeUtil.Format(query.Shape)} and key {ShapeUtil.Format(key.Shape)} must be [B, C, H, W] on the same grid");
        int b = query.Dim(0), h = query.Dim(2), w = query.Dim(3), n = h * w;
        var q = ChannelLinear(query, wq, bq).Reshape(b, wq.Dim(0), n);
        var k = ChannelLinear(key, wk, bk).Reshape(b, wk.Dim(0), n);
        var v = ChannelLinear(key, wv, bv).Reshape(b, wv.Dim(0), n);
        return CausalAttentionCore(q, k, v, heads, strict).Reshape(b, wv.Dim(0), h, w);
    }

    /// <summary>
    /// Masked multi-head attention on channel-major features: q, k [B, dk, N], v [B, dv, N] → [B, dv, N].
    /// Head h of image b reads q/k channels [h·dk/H, (h+1)·dk/H) and v channels [h·dv/H, ...), which in NCHW
    /// are contiguous [dh, N] blocks at a uniform stride, so every head of every image is one batch entry
    /// (index b·heads + h) of a batched GEMM: S = qᵀk (TransA), P = masked softmax(scale·S), out = v·Pᵀ (TransB).
    /// Output channels come out already concatenated head by head. Memory: B·heads·N² floats for P (kept for
    /// the backward) — small for PixelSNAIL's 8×8 grid (N = 64). Where the backend prefers it (cuda), the forward is
    /// one fused kernel (<see cref="Backend.FusedCausalAttention"/>) that keeps only the log-sum-exp per row, and the
    /// backward recomputes S and rebuilds P from it.
    /// </summary>
    public static Tensor CausalAttentionCore(Tensor q, Tensor k, Tensor v, int heads = 1, bool strict = false, float? scale = null)
    {
        RequireSameBackend("causal_attention", q, k, v);
        if (q.Rank != 3 || k.Rank != 3 || v.Rank != 3 || !ShapeUtil.Same(q.Shape, k.Shape) || v.Dim(0) != q.Dim(0) || v.Dim(2) != q.Dim(2))
            throw new ArgumentException($"causal_attention: need q, k [B, dk, N] and v [B, dv, N], got {ShapeUtil.Format(q.Shape)}, {ShapeUtil.Format(k.Shape)}, {ShapeUtil.Format(v.Shape)}");
        int b = q.Dim(0), dk = q.Dim(1), dv = v.Dim(1), n = q.Dim(2);
        if (heads < 1 || dk % heads != 0 || dv % heads != 0)
            throw new ArgumentException($"causal_attention: {heads} heads do not divide dk {dk} and dv {dv}");
        int dh = dk / heads, dvh = dv / heads, bh = b * heads;
        float sc = scale ?? 1f / MathF.Sqrt(dh);
        var be = q.Backend;

        var y = Tensor.Empty(be, b, dv, n);
        var qk = new GemmSpec(true, false, n, n, dh, Batch: bh, StrideA: dh * n, StrideB: dh * n, StrideC: n * n);
        if (be.PrefersFusedAttention(dh, dvh))
        {
            // One kernel, no N×N matrix; the backward rebuilds P from the scores and the saved log-sum-exp per row.
            var lse = Tensor.Empty(be, bh, n);
            be.FusedCausalAttention(q, k, v, y, lse, bh, n, dh, dvh, sc, strict);
            Autograd.Record("causal_attention", y, [q, k, v], g =>
            {
                var s = Tensor.Empty(be, bh, n, n);
                be.Gemm(qk, q, k, s);
                var p = Tensor.Empty(be, bh, n, n);
                be.MaskedSoftmaxFromLse(s, lse, p, bh, n, sc, strict);
                s.Dispose();
                Backward(g, p);
                p.Dispose();
            });
            return y;
        }

        var scores = Tensor.Empty(be, bh, n, n);
        be.Gemm(qk, q, k, scores);
        var probs = Tensor.Empty(be, bh, n, n);
        be.MaskedSoftmaxRows(scores, probs, bh, n, sc, strict);
        scores.Dispose(); // scores are not needed again: the backward works from P
        be.Gemm(new GemmSpec(false, true, dvh, n, n, Batch: bh, StrideA: dvh * n, StrideB: n * n, StrideC: dvh * n), v, probs, y);
        Autograd.Record("causal_attention", y, [q, k, v], g => Backward(g, probs));
        return y;

        void Backward(Tensor g, Tensor p)
        {
            // dv = dO·P;  dP = dOᵀ·v;  dS = masked softmax backward;  dq = k·dSᵀ;  dk = q·dS.
            if (v.RequiresGrad)
                be.Gemm(new GemmSpec(false, false, dvh, n, n, Beta: 1f, Batch: bh, StrideA: dvh * n, StrideB: n * n, StrideC: dvh * n), g, p, v.GradOrZeros());
            if (!q.RequiresGrad && !k.RequiresGrad) return;
            var dp = Tensor.Empty(be, bh, n, n);
            be.Gemm(new GemmSpec(true, false, n, n, dvh, Batch: bh, StrideA: dvh * n, StrideB: dvh * n, StrideC: n * n), g, v, dp);
            var ds = Tensor.Zeros(be, bh, n, n);
            be.MaskedSoftmaxRowsBackward(p, dp, ds, bh, n, sc, strict);
            if (q.RequiresGrad)
                be.Gemm(new GemmSpec(false, true, dh, n, n, Beta: 1f, Batch: bh, StrideA: dh * n, StrideB: n * n, StrideC: dh * n), k, ds, q.GradOrZeros());
            if (k.RequiresGrad)
                be.Gemm(new GemmSpec(false, false, dh, n, n, Beta: 1f, Batch: bh, StrideA: dh * n, StrideB: n * n, StrideC: dh * n), q, ds, k.GradOrZeros());
            dp.Dispose();
            ds.Dispose();
        }
    }
}
