namespace NativeVq;

/// <summary>Elementwise regression losses with mean reduction.</summary>
public enum PairLoss { Mse, L1 }

// Fused regression losses: y = mean over elements of (a − b)² or |a − b|, and their gradients.
public abstract partial class Backend
{
    /// <summary>
    /// y[0] = mean((a − b)²) or mean(|a − b|) over all elements. Deterministic: fixed 1024-element blocks
    /// summed in float, block sums added in order in double (as <see cref="SumAll"/>).
    /// </summary>
    public void LossForward(PairLoss loss, Tensor a, Tensor b, Tensor y)
    {
        using var _ = Profiler.Kernel(this, loss == PairLoss.Mse ? "mse_loss" : "l1_loss", 3.0 * a.Numel, 8.0 * a.Numel, a, b);
        LossForwardCore(loss, a, b, y);
    }

    /// <summary>
    /// da += g[0]·f'(a − b)/n and db −= g[0]·f'(a − b)/n with f' = 2(a − b) (MSE) or sign(a − b), sign(0) = 0 (L1).
    /// The upstream scalar <paramref name="g"/> is read on the device (no host synchronisation).
    /// Either gradient may be null (that argument needs none).
    /// </summary>
    public void LossBackward(PairLoss loss, Tensor a, Tensor b, Tensor g, Tensor? da, Tensor? db)
    {
        if (da is null && db is null) return;
        using var _ = Profiler.Kernel(this, loss == PairLoss.Mse ? "mse_loss.backward" : "l1_loss.backward", 4.0 * a.Numel, 16.0 * a.Numel, a, b);
        LossBackwardCore(loss, a, b, g, da, db);
    }

    protected abstract void LossForwardCore(PairLoss loss, Tensor a, Tensor b, Tensor y);
    protected abstract void LossBackwardCore(PairLoss loss, Tensor a, Tensor b, Tensor g, Tensor? da, Tensor? db);
}
