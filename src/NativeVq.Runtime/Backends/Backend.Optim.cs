namespace NativeVq;

/// <summary>
/// One Adam update's scalars. The bias corrections are computed in double on the host (as PyTorch does)
/// and passed as floats: <see cref="StepSize"/> = lr / (1 − β1ᵗ), <see cref="Bc2Sqrt"/> = sqrt(1 − β2ᵗ). The
/// weights 1 − β are also formed in double, as torch does with its Python-float betas: (float)(1 − 0.999) is
/// 0.001f, whereas 1f − 0.999f is 0.00100005f, which moves exp_avg_sq by 5e-5 relative.
/// </summary>
public readonly record struct AdamArgs(float Beta1, float Beta2, float OneMinusBeta1, float OneMinusBeta2, float Eps, float WeightDecay, float StepSize, float Bc2Sqrt)
{
    /// <summary>The arguments of step <paramref name="t"/> (1-based), bias corrections in double.</summary>
    public static AdamArgs ForStep(double lr, double beta1, double beta2, double eps, double weightDecay, long t)
    {
        double bc1 = 1 - Math.Pow(beta1, t), bc2 = 1 - Math.Pow(beta2, t);
        return new AdamArgs((float)beta1, (float)beta2, (float)(1 - beta1), (float)(1 - beta2), (float)eps, (float)weightDecay, (float)(lr / bc1), (float)Math.Sqrt(bc2));
    }
}

// Optimizer kernels: the Adam update and the sum of squares used by gradient clipping.
public abstract partial class Backend
{
    /// <summary>
    /// PyTorch 1.13 Adam (single-tensor path), in place on p, m, v:
    /// g' = g + wd·p; m = β1·m + (1−β1)·g'; v = β2·v + (1−β2)·g'²; p −= StepSize · m / (sqrt(v)/Bc2Sqrt + eps).
    /// eps is added after dividing by sqrt(1 − β2ᵗ), exactly as torch.optim.Adam.
    /// </summary>
    public void AdamStep(Tensor p, Tensor g, Tensor m, Tensor v, in AdamArgs args)
    {
        using var _ = Profiler.Kernel(this, "adam", 14.0 * p.Numel, 28.0 * p.Numel, p, g);
        AdamStepCore(p, g, m, v, args);
    }

    /// <summary>y[index] = Σ x² (deterministic: fixed 1024-element blocks, block sums combined in order in double).</summary>
    public void SumSquares(Tensor x, Tensor y, int index = 0)
    {
        if ((uint)index >= (uint)y.Numel) throw new ArgumentOutOfRangeException(nameof(index), $"sum_squares: slot {index} outside y {ShapeUtil.Format(y.Shape)}");
        using var _ = Profiler.Kernel(this, "sum_squares", 2.0 * x.Numel, 4.0 * x.Numel, x);
        SumSquaresCore(x, y, index);
    }

    protected abstract void AdamStepCore(Tensor p, Tensor g, Tensor m, Tensor v, in AdamArgs args);
    protected abstract void SumSquaresCore(Tensor x, Tensor y, int index);
}
