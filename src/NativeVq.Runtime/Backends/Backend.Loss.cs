namespace NativeVq;

/// <summary>
/// Elementwise losses of two same-shaped tensors with mean reduction: MSE and L1 of (a − b), and binary
/// cross-entropy of logits a against targets b (max(a, 0) − a·b + log(1 + exp(−|a|)), stable for any a).
/// </summary>
public enum PairLoss { Mse, L1, BceWithLogits }

// Fused pair losses: y = mean over elements of the loss, and its gradients.
public abstract partial class Backend
{
    /// <summary>
    /// y[0] = mean((a − b)²), mean(|a − b|) or mean(bce_with_logits(a, b)) over all elements. Deterministic: fixed 1024-element blocks
    /// summed in float, block sums added in order in double (as <see cref="SumAll"/>).
    /// </summary>
    public void LossForward(PairLoss loss, Tensor a, Tensor b, Tensor y)
    {
        using var _ = Profiler.Kernel(this, LossNames[(int)loss], 3.0 * a.Numel, 8.0 * a.Numel, a, b);
        LossForwardCore(loss, a, b, y);
    }

    /// <summary>
    /// da += g[0]·f'(a − b)/n and db −= g[0]·f'(a − b)/n with f' = 2(a − b) (MSE) or sign(a − b), sign(0) = 0 (L1);
    /// for BCE with logits da += g[0]·(σ(a) − b)/n and db += g[0]·(−a)/n.
    /// The upstream scalar <paramref name="g"/> is read on the device (no host synchronisation).
    /// Either gradient may be null (that argument needs none).
    /// </summary>
    public void LossBackward(PairLoss loss, Tensor a, Tensor b, Tensor g, Tensor? da, Tensor? db)
    {
        if (da is null && db is null) return;
        using var _ = Profiler.Kernel(this, LossNames[(int)loss] + ".backward", 4.0 * a.Numel, 16.0 * a.Numel, a, b);
        LossBackwardCore(loss, a, b, g, da, db);
    }

    private static readonly string[] LossNames = ["mse_loss", "l1_loss", "bce_with_logits"];

    protected abstract void LossForwardCore(PairLoss loss, Tensor a, Tensor b, Tensor y);
    protected abstract void LossBackwardCore(PairLoss loss, Tensor a, Tensor b, Tensor g, Tensor? da, Tensor? db);
}
