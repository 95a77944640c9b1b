namespace NativeVq;

// Batch normalisation over NCHW viewed as [n, c, hw]: statistics per channel over n·hw values.
public abstract partial class Backend
{
    /// <summary>
    /// mean[c] and the biased variance var[c] of x viewed as [n, c, hw] (overwritten). Two passes per channel (the
    /// mean, then Σ(x − mean)²: no cancellation from E[x²] − E[x]²), planes summed in order in double: deterministic.
    /// </summary>
    public void BatchNormStats(Tensor x, Tensor mean, Tensor var, int n, int c, int hw)
    {
        using var _ = Profiler.Kernel(this, "batchnorm_stats", 3.0 * x.Numel, 8.0 * x.Numel, x);
        BatchNormStatsCore(x, mean, var, n, c, hw);
    }

    /// <summary>y = (x − mean[c]) / √(var[c] + eps) · weight[c] + bias[c] (overwritten).</summary>
    public void BatchNormForward(Tensor x, Tensor mean, Tensor var, Tensor weight, Tensor bias, Tensor y, int n, int c, int hw, float eps)
    {
        using var _ = Profiler.Kernel(this, "batchnorm", 2.0 * x.Numel, 8.0 * x.Numel, x, weight);
        BatchNormForwardCore(x, mean, var, weight, bias, y, n, c, hw, eps);
    }

    /// <summary>
    /// sumDy[c] = Σ dy and sumDyXhat[c] = Σ dy·x̂ with x̂ = (x − mean[c]) / √(var[c] + eps), over n·hw (overwritten):
    /// the bias and weight gradients, and the two terms the input gradient needs.
    /// </summary>
    public void BatchNormBackwardReduce(Tensor x, Tensor dy, Tensor mean, Tensor var, Tensor sumDy, Tensor sumDyXhat, int n, int c, int hw, float eps)
    {
        using var _ = Profiler.Kernel(this, "batchnorm.backward_reduce", 4.0 * x.Numel, 8.0 * x.Numel, x, dy);
        BatchNormBackwardReduceCore(x, dy, mean, var, sumDy, sumDyXhat, n, c, hw, eps);
    }

    /// <summary>
    /// dx += weight·istd·(dy − (sumDy + x̂·sumDyXhat)/(n·hw)) when the statistics came from this batch
    /// (<paramref name="batchStats"/>, training), else dx += weight·istd·dy (fixed running statistics, eval).
    /// </summary>
    public void BatchNormBackwardInput(Tensor x, Tensor dy, Tensor mean, Tensor var, Tensor weight, Tensor sumDy, Tensor sumDyXhat, Tensor dx,
        int n, int c, int hw, float eps, bool batchStats)
    {
        using var _ = Profiler.Kernel(this, "batchnorm.backward_input", 5.0 * x.Numel, 12.0 * x.Numel, x, dy);
        BatchNormBackwardInputCore(x, dy, mean, var, weight, sumDy, sumDyXhat, dx, n, c, hw, eps, batchStats);
    }

    protected abstract void BatchNormStatsCore(Tensor x, Tensor mean, Tensor var, int n, int c, int hw);
    protected abstract void BatchNormForwardCore(Tensor x, Tensor mean, Tensor var, Tensor weight, Tensor bias, Tensor y, int n, int c, int hw, float eps);
    protected abstract void BatchNormBackwardReduceCore(Tensor x, Tensor dy, Tensor mean, Tensor var, Tensor sumDy, Tensor sumDyXhat, int n, int c, int hw, float eps);
    protected abstract void BatchNormBackwardInputCore(Tensor x, Tensor dy, Tensor mean, Tensor var, Tensor weight, Tensor sumDy, Tensor sumDyXhat, Tensor dx,
        int n, int c, int hw, float eps, bool batchStats);
}
