namespace NativeVq.Nn;

/// <summary>
/// torch.nn.BatchNorm2d(C) with affine weight (ones) and bias (zeros) and buffers running_mean (zeros) and
/// running_var (ones), named as in PyTorch's state dict; the buffers go into checkpoints with the parameters.
/// <see cref="Module.Training"/> picks batch statistics (and updates the running ones) or the running statistics.
/// </summary>
public sealed class BatchNorm2d : Module
{
    public BatchNorm2d(Backend backend, int channels, float momentum = 0.1f, float eps = 1e-5f)
    {
        Momentum = momentum;
        Eps = eps;
        Weight = RegisterParameter("weight", TensorScope.Unscoped(() => Tensor.Full(backend, 1f, channels)));
        Bias = RegisterParameter("bias", TensorScope.Unscoped(() => Tensor.Zeros(backend, channels)));
        RunningMean = RegisterBuffer("running_mean", TensorScope.Unscoped(() => Tensor.Zeros(backend, channels)));
        RunningVar = RegisterBuffer("running_var", TensorScope.Unscoped(() => Tensor.Full(backend, 1f, channels)));
    }

    public float Momentum { get; }
    public float Eps { get; }
    public Tensor Weight { get; }
    public Tensor Bias { get; }
    public Tensor RunningMean { get; }
    public Tensor RunningVar { get; }

    public Tensor Forward(Tensor x) => F.BatchNorm2d(x, Weight, Bias, RunningMean, RunningVar, Training, Momentum, Eps);
}
