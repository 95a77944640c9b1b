namespace NativeVq.Nn;

/// <summary>2-D convolution, weight [Cout, Cin, kH, kW] (PyTorch layout and default initialisation).</summary>
public sealed class Conv2d : Module
{
    private readonly int _stride, _padding;

    public Conv2d(Backend backend, Rng rng, int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, bool bias = true)
        : this(backend, rng, inChannels, outChannels, kernel, kernel, stride, padding, bias) { }

    public Conv2d(Backend backend, Rng rng, int inChannels, int outChannels, int kernelH, int kernelW, int stride, int padding, bool bias)
    {
        _stride = stride;
        _padding = padding;
        float bound = Init.DefaultBound(inChannels * kernelH * kernelW);
        Weight = RegisterParameter("weight", Init.Uniform(backend, rng, bound, outChannels, inChannels, kernelH, kernelW));
        if (bias) Bias = RegisterParameter("bias", Init.Uniform(backend, rng, bound, outChannels));
    }

    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public Tensor Forward(Tensor x) => F.Conv2d(x, Weight, Bias, _stride, _padding);

    /// <summary>act(conv(x) + bias) as one fused op (see <see cref="ConvEpilogue"/>).</summary>
    public Tensor Forward(Tensor x, ConvEpilogue epilogue) => F.Conv2d(x, Weight, Bias, _stride, _padding, epilogue);
}

/// <summary>Transposed 2-D convolution, weight [Cin, Cout, kH, kW] (input channels first, as in PyTorch).</summary>
public sealed class ConvTranspose2d : Module
{
    private readonly int _stride, _padding;

    public ConvTranspose2d(Backend backend, Rng rng, int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, bool bias = true)
    {
        _stride = stride;
        _padding = padding;
        // PyTorch computes fan_in from weight.size(1) * k * k, i.e. the OUTPUT channels for a transposed conv.
        float bound = Init.DefaultBound(outChannels * kernel * kernel);
        Weight = RegisterParameter("weight", Init.Uniform(backend, rng, bound, inChannels, outChannels, kernel, kernel));
        if (bias) Bias = RegisterParameter("bias", Init.Uniform(backend, rng, bound, outChannels));
    }

    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public Tensor Forward(Tensor x) => F.ConvTranspose2d(x, Weight, Bias, _stride, _padding);

    /// <summary>act(conv_transpose(x) + bias) as one fused op (see <see cref="ConvEpilogue"/>).</summary>
    public Tensor Forward(Tensor x, ConvEpilogue epilogue) => F.ConvTranspose2d(x, Weight, Bias, _stride, _padding, epilogue);
}

/// <summary>Fully connected layer y = x·Wᵀ + b, weight [out, in].</summary>
public sealed class Linear : Module
{
    public Linear(Backend backend, Rng rng, int inFeatures, int outFeatures, bool bias = true)
    {
        float bound = Init.DefaultBound(inFeatures);
        Weight = RegisterParameter("weight", Init.Uniform(backend, rng, bound, outFeatures, inFeatures));
        if (bias) Bias = RegisterParameter("bias", Init.Uniform(backend, rng, bound, outFeatures));
    }

    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    /// <summary>x [B, in] → [B, out].</summary>
    public Tensor Forward(Tensor x) => F.Linear(x, Weight, Bias);

    /// <summary>act(x·Wᵀ + b) as one fused op (see <see cref="F.Linear(Tensor, Tensor, Tensor?, ConvEpilogue)"/>).</summary>
    public Tensor Forward(Tensor x, ConvEpilogue epilogue) => F.Linear(x, Weight, Bias, epilogue);

    /// <summary>x [B, in, H, W] → [B, out, H, W]: the same layer applied at every position (attention projections).</summary>
    public Tensor ForwardChannels(Tensor x) => F.ChannelLinear(x, Weight, Bias);
}
