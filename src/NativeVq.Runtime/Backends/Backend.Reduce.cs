namespace NativeVq;

// Reductions and per-channel broadcasts (NCHW: x viewed as [N, C, HW]).
public abstract partial class Backend
{
    /// <summary>y[0] = Σ x (deterministic order: fixed partial blocks, combined in order).</summary>
    public void SumAll(Tensor x, Tensor y)
    {
        using var _ = Profiler.Kernel(this, "sum", x.Numel, 4.0 * x.Numel, x);
        SumAllCore(x, y);
    }

    /// <summary>y[i] += scale · s[0] for every i (the backward of a sum: s is the upstream scalar).</summary>
    public void AddScalar(Tensor s, float scale, Tensor y)
    {
        using var _ = Profiler.Kernel(this, "add_scalar", y.Numel, 8.0 * y.Numel, y);
        AddScalarCore(s, scale, y);
    }

    /// <summary>y[n,c,p] += bias[c] for x viewed as [n, c, hw].</summary>
    public void AddChannelBias(Tensor bias, Tensor y, int n, int c, int hw)
    {
        using var _ = Profiler.Kernel(this, "add_channel_bias", y.Numel, 8.0 * y.Numel, y, bias);
        AddChannelBiasCore(bias, y, n, c, hw);
    }

    /// <summary>dbias[c] += Σ_{n,p} dy[n,c,p] (the bias gradient of conv and linear layers).</summary>
    public void ChannelSum(Tensor dy, Tensor dbias, int n, int c, int hw)
    {
        using var _ = Profiler.Kernel(this, "channel_sum", dy.Numel, 4.0 * dy.Numel, dy, dbias);
        ChannelSumCore(dy, dbias, n, c, hw);
    }

    protected abstract void SumAllCore(Tensor x, Tensor y);
    protected abstract void AddScalarCore(Tensor s, float scale, Tensor y);
    protected abstract void AddChannelBiasCore(Tensor bias, Tensor y, int n, int c, int hw);
    protected abstract void ChannelSumCore(Tensor dy, Tensor dbias, int n, int c, int hw);
}
