namespace NativeVq;

// LeakyReLU with a slope: its own family rather than a UnaryOp because the UnaryOp kernels take no parameter.
public abstract partial class Backend
{
    /// <summary>y = x for x &gt; 0, slope·x otherwise (torch.nn.LeakyReLU(negative_slope)).</summary>
    public void LeakyRelu(Tensor x, Tensor y, float slope)
    {
        using var _ = Profiler.Kernel(this, "leaky_relu", x.Numel, 8.0 * x.Numel, x);
        LeakyReluCore(x, y, slope);
    }

    /// <summary>dx += (x &gt; 0 ? 1 : slope) · dy (the derivative at 0 is the slope, as PyTorch's).</summary>
    public void LeakyReluBackward(Tensor x, Tensor dy, Tensor dx, float slope)
    {
        using var _ = Profiler.Kernel(this, "leaky_relu.backward", 2.0 * x.Numel, 16.0 * x.Numel, x);
        LeakyReluBackwardCore(x, dy, dx, slope);
    }

    protected abstract void LeakyReluCore(Tensor x, Tensor y, float slope);
    protected abstract void LeakyReluBackwardCore(Tensor x, Tensor dy, Tensor dx, float slope);
}
