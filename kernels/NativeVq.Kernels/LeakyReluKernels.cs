using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>LeakyReLU, one thread per element. CPU twin: src/NativeVq.Runtime/Cpu/LeakyRelu.cs.</summary>
public static class LeakyReluKernels
{
    public static void Forward(Index1D i, ArrayView<float> x, ArrayView<float> y, float slope)
    {
        float v = x[i];
        y[i] = v > 0f ? v : v * slope;
    }

    public static void Backward(Index1D i, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, float slope)
    {
        float g = dy[i];
        dx[i] += x[i] > 0f ? g : g * slope;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, float>? _leakyRelu;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>? _leakyReluBackward;

    protected override void LeakyReluCore(Tensor x, Tensor y, float slope)
    {
        if (x.Numel == 0) return;
        _leakyRelu ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(LeakyReluKernels.Forward);
        _leakyRelu(x.Numel, F(x), F(y), slope);
    }

    protected override void LeakyReluBackwardCore(Tensor x, Tensor dy, Tensor dx, float slope)
    {
        if (x.Numel == 0) return;
        _leakyReluBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float>(LeakyReluKernels.Backward);
        _leakyReluBackward(x.Numel, F(x), F(dy), F(dx), slope);
    }
}
