namespace NativeVq;

// Softmax family: softmax / log-softmax over the channel dimension of NCHW, cross-entropy over the class
// dimension, and the causal (masked) row softmax of attention. All are max-subtracted, so large logits do
// not overflow exp.
public abstract partial class Backend
{
    /// <summary>
    /// y = softmax (or log-softmax when <paramref name="log"/>) of x over the channel dimension, x viewed as
    /// [n, c, hw] (position p of image i reads x[i, :, p]; hw = 1 gives a plain row softmax of [n, c]).
    /// </summary>
    public void SoftmaxChannels(Tensor x, Tensor y, int n, int c, int hw, bool log)
    {
        using var _ = Profiler.Kernel(this, log ? "log_softmax" : "softmax", 5.0 * x.Numel, 12.0 * x.Numel, x, y);
        SoftmaxChannelsCore(x, y, n, c, hw, log);
    }

    /// <summary>
    /// dx += the softmax backward given its output y: y∘(dy − Σ_c y∘dy) for softmax, dy − exp(y)·Σ_c dy for
    /// log-softmax (y is then log-probabilities).
    /// </summary>
    public void SoftmaxChannelsBackward(Tensor y, Tensor dy, Tensor dx, int n, int c, int hw, bool log)
    {
        using var _ = Profiler.Kernel(this, log ? "log_softmax.backward" : "softmax.backward", 4.0 * y.Numel, 16.0 * y.Numel, y, dy, dx);
        SoftmaxChannelsBackwardCore(y, dy, dx, n, c, hw, log);
    }

    /// <summary>
    /// Per-position negative log-likelihood of logits [n, k, hw] for int32 targets [n, hw]:
    /// nll[i,p] = logsumexp_k logits[i,:,p] − logits[i,target,p]; lse[i,p] receives the logsumexp, which the
    /// backward reuses instead of a second max/sum pass. Targets outside [0, k) throw on cpu; the GPU kernel
    /// writes NaN there (F.CrossEntropyMap checks the range before launching).
    /// </summary>
    public void CrossEntropy(Tensor logits, Tensor targets, Tensor nll, Tensor lse, int n, int k, int hw)
    {
        using var _ = Profiler.Kernel(this, "cross_entropy", 4.0 * logits.Numel, 4.0 * logits.Numel + 12.0 * n * hw, logits, targets, nll);
        CrossEntropyCore(logits, targets, nll, lse, n, k, hw);
    }

    /// <summary>dlogits[i,c,p] += dnll[i,p] · (exp(logits[i,c,p] − lse[i,p]) − [c = target[i,p]]).</summary>
    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor lse, Tensor dnll, Tensor dlogits, int n, int k, int hw)
    {
        using var _ = Profiler.Kernel(this, "cross_entropy.backward", 4.0 * logits.Numel, 12.0 * logits.Numel, logits, dnll, dlogits);
        CrossEntropyBackwardCore(logits, targets, lse, dnll, dlogits, n, k, hw);
    }

    /// <summary>
    /// Causal row softmax of attention scores [batch, n, n] (query s, key t):
    /// probs[b,s,t] = softmax over allowed t of scale·scores[b,s,t], allowed = t ≤ s (t &lt; s when strict);
    /// masked entries are written as exactly 0, and a row with no allowed key (s = 0 when strict) is all
    /// zeros instead of the NaN a −inf mask would give. Masked scores are never read, so their values
    /// (even non-finite) cannot leak into the output.
    /// </summary>
    public void MaskedSoftmaxRows(Tensor scores, Tensor probs, int batch, int n, float scale, bool strict)
    {
        double e = (double)batch * n * n;
        using var _ = Profiler.Kernel(this, "masked_softmax", 2.5 * e, 8.0 * e, scores, probs);
        MaskedSoftmaxRowsCore(scores, probs, batch, n, scale, strict);
    }

    /// <summary>dscores += scale · P∘(dP − rowsum(P∘dP)); masked entries get nothing.</summary>
    public void MaskedSoftmaxRowsBackward(Tensor probs, Tensor dprobs, Tensor dscores, int batch, int n, float scale, bool strict)
    {
        double e = (double)batch * n * n;
        using var _ = Profiler.Kernel(this, "masked_softmax.backward", 2.0 * e, 12.0 * e, probs, dprobs, dscores);
        MaskedSoftmaxRowsBackwardCore(probs, dprobs, dscores, batch, n, scale, strict);
    }

    protected abstract void SoftmaxChannelsCore(Tensor x, Tensor y, int n, int c, int hw, bool log);
    protected abstract void SoftmaxChannelsBackwardCore(Tensor y, Tensor dy, Tensor dx, int n, int c, int hw, bool log);
    protected abstract void CrossEntropyCore(Tensor logits, Tensor targets, Tensor nll, Tensor lse, int n, int k, int hw);
    protected abstract void CrossEntropyBackwardCore(Tensor logits, Tensor targets, Tensor lse, Tensor dnll, Tensor dlogits, int n, int k, int hw);
    protected abstract void MaskedSoftmaxRowsCore(Tensor scores, Tensor probs, int batch, int n, float scale, bool strict);
    protected abstract void MaskedSoftmaxRowsBackwardCore(Tensor probs, Tensor dprobs, Tensor dscores, int batch, int n, float scale, bool strict);
}
