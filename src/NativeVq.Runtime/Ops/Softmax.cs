namespace NativeVq;

public static partial class F
{
    /// <summary>Softmax over dimension 1 of [N, C, ...] (the channel / class dimension of NCHW).</summary>
    public static Tensor Softmax(Tensor x) => SoftmaxChannels_(x, log: false);

    /// <summary>Log-softmax over dimension 1 of [N, C, ...]; computed directly (x − logsumexp), not as log(softmax).</summary>
    public static Tensor LogSoftmax(Tensor x) => SoftmaxChannels_(x, log: true);

    private static Tensor SoftmaxChannels_(Tensor x, bool log)
    {
        string op = log ? "log_softmax" : "softmax";
        if (x.Rank < 2) throw new ArgumentException($"{op}: need [N, C, ...], got {ShapeUtil.Format(x.Shape)}");
        int n = x.Dim(0), c = x.Dim(1), hw = n * c == 0 ? 0 : x.Numel / (n * c);
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.SoftmaxChannels(x, y, n, c, hw, log);
        // The backward needs only the output, so x may be freed or reused by the caller.
        Autograd.Record(op, y, [x], g => x.Backend.SoftmaxChannelsBackward(y, g, x.GradOrZeros(), n, c, hw, log));
        return y;
    }

    /// <summary>
    /// Per-position cross-entropy (nats) of logits [N, K, ...] against int32 targets [N, ...] — PyTorch's
    /// cross_entropy(reduction='none'). Differentiable in the logits. Targets outside [0, K) throw.
    /// </summary>
    public static Tensor CrossEntropyMap(Tensor logits, Tensor targets)
    {
        RequireSameBackend("cross_entropy", logits, targets);
        targets.RequireDType(DType.I32);
        if (logits.Rank < 2 || targets.Rank != logits.Rank - 1 || targets.Dim(0) != logits.Dim(0)
            || !ShapeUtil.Same(logits.Shape.AsSpan(2), targets.Shape.AsSpan(1)))
            throw new ArgumentException($"cross_entropy: logits {ShapeUtil.Format(logits.Shape)} need targets [N, ...] of the non-class dims, got {ShapeUtil.Format(targets.Shape)}");
        int n = logits.Dim(0), k = logits.Dim(1), hw = targets.Numel / Math.Max(1, n);
        var be = logits.Backend;
        // The cpu kernel checks targets itself; device kernels would only write NaN, so check on the host
        // first (targets are small: one int per position).
        if (be is not Cpu.CpuBackend && !targets.CodesKnownBelow(k)) Cpu.CpuSoftmax.ValidateTargets(targets.ToIntArray(), k);
        var nll = Tensor.Empty(be, targets.Shape);
        var lse = Tensor.Empty(be, targets.Shape);
        be.CrossEntropy(logits, targets, nll, lse, n, k, hw);
        Autograd.Record("cross_entropy", nll, [logits], g => be.CrossEntropyBackward(logits, targets, lse, g, logits.GradOrZeros(), n, k, hw));
        return nll;
    }

    /// <summary>Mean cross-entropy over all N·H·W positions (PyTorch's default reduction='mean', not per batch).</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets) => Mean(CrossEntropyMap(logits, targets));

    /// <summary>
    /// Causal row softmax of attention scores [B, N, N]: softmax over keys t ≤ s (t &lt; s when
    /// <paramref name="strict"/>) of scale·scores; masked entries and rows without any key are exactly 0.
    /// </summary>
    public static Tensor MaskedSoftmaxRows(Tensor scores, float scale, bool strict)
    {
        if (scores.Rank != 3 || scores.Dim(1) != scores.Dim(2))
            throw new ArgumentException($"masked_softmax: need scores [B, N, N], got {ShapeUtil.Format(scores.Shape)}");
        int batch = scores.Dim(0), n = scores.Dim(1);
        var p = Tensor.Empty(scores.Backend, scores.Shape);
        scores.Backend.MaskedSoftmaxRows(scores, p, batch, n, scale, strict);
        Autograd.Record("masked_softmax", p, [scores], g => scores.Backend.MaskedSoftmaxRowsBackward(p, g, scores.GradOrZeros(), batch, n, scale, strict));
        return p;
    }
}
