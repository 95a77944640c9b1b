namespace NativeVq;

public abstract partial class Backend
{
    /// <summary>
    /// Whether <see cref="F.CausalAttentionCore"/> should run the fused forward (<see cref="FusedCausalAttention"/>) for
    /// heads of dh query/key and dvh value channels. False on cpu, whose two batched GEMMs and row softmax are fast
    /// and whose arithmetic the incremental PixelSNAIL inference reproduces bit for bit; true on cuda within the
    /// kernel's head-size limit.
    /// </summary>
    public virtual bool PrefersFusedAttention(int dh, int dvh) => false;

    /// <summary>
    /// Causal attention forward without the N×N matrix: for every batch entry (image·heads + head) and query s,
    /// y[b, c, s] = Σ_(t allowed) p_t·v[b, c, t] with p = softmax over allowed t of scale·Σ_j q[b, j, s]·k[b, j, t],
    /// allowed = t ≤ s (t &lt; s when strict), and lse[b, s] = log Σ_(t allowed) exp(scale·S[s, t]) (−∞ for a row with
    /// no allowed key, whose output is 0). q, k [batch, dh, n], v and y [batch, dvh, n] channel-major; overwrites y and lse.
    /// </summary>
    public void FusedCausalAttention(Tensor q, Tensor k, Tensor v, Tensor y, Tensor lse, int batch, int n, int dh, int dvh, float scale, bool strict)
    {
        double pairs = (double)batch * n * (n + 1) / 2;
        using var _ = Profiler.Kernel(this, "causal_attention.fused", pairs * (2.0 * dh + 2.0 * dvh + 4),
            4.0 * batch * n * (2.0 * dh + 2.0 * dvh + 1), q, v, y);
        FusedCausalAttentionCore(q, k, v, y, lse, batch, n, dh, dvh, scale, strict);
    }

    /// <summary>
    /// probs[b, s, t] = exp(scale·scores[b, s, t] − lse[b, s]) for allowed t, exactly 0 elsewhere (and on a row whose lse is
    /// −∞): the attention probabilities rebuilt from the forward's saved log-sum-exp, for the backward. Overwrites probs.
    /// </summary>
    public void MaskedSoftmaxFromLse(Tensor scores, Tensor lse, Tensor probs, int batch, int n, float scale, bool strict)
    {
        double e = (double)batch * n * n;
        using var _ = Profiler.Kernel(this, "masked_softmax.from_lse", 2.0 * e, 8.0 * e, scores, lse, probs);
        MaskedSoftmaxFromLseCore(scores, lse, probs, batch, n, scale, strict);
    }

    protected abstract void FusedCausalAttentionCore(Tensor q, Tensor k, Tensor v, Tensor y, Tensor lse, int batch, int n, int dh, int dvh, float scale, bool strict);
    protected abstract void MaskedSoftmaxFromLseCore(Tensor scores, Tensor lse, Tensor probs, int batch, int n, float scale, bool strict);
}
