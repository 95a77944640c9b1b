using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Elementwise GPU kernels, one thread per element. CPU twin: src/NativeVq.Runtime/Cpu/Elementwise.cs.
/// Tests: tests/NativeVq.Tests/Kernels/IlgpuParityTests.cs; bench: bench/NativeVq.Bench/ElementwiseBench.cs.
/// </summary>
public static class ElementwiseKernels
{
    public static void Fill(Index1D i, ArrayView<float> y, float value) => y[i] = value;

    public static void Axpby(Index1D i, ArrayView<float> x, ArrayView<float> y, float a, float b)
        => y[i] = b == 0f ? a * x[i] : a * x[i] + b * y[i];

    public static void Unary(Index1D i, ArrayView<float> x, ArrayView<float> y, int op)
    {
        float v = x[i];
        y[i] = op switch
        {
            (int)UnaryOp.Relu => v > 0f ? v : 0f,
            (int)UnaryOp.Elu => v > 0f ? v : XMath.Exp(v) - 1f,
            (int)UnaryOp.Sigmoid => 1f / (1f + XMath.Exp(-v)),
            (int)UnaryOp.Exp => XMath.Exp(v),
            _ => XMath.Tanh(v),
        };
    }

    public static void UnaryBackward(Index1D i, ArrayView<float> x, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int op)
    {
        float v = x[i], o = y[i], g = dy[i];
        dx[i] += op switch
        {
            (int)UnaryOp.Relu => v > 0f ? g : 0f,
            (int)UnaryOp.Elu => v > 0f ? g : g * (o + 1f),
            (int)UnaryOp.Sigmoid => g * o * (1f - o),
            (int)UnaryOp.Exp => g * o,
            _ => g * (1f - o * o),
        };
    }

    public static void Binary(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int op)
        => y[i] = op switch
        {
            (int)BinaryOp.Add => a[i] + b[i],
            (int)BinaryOp.Sub => a[i] - b[i],
            _ => a[i] * b[i],
        };

    public static void MulAccumulate(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
        => y[i] += a[i] * b[i];
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, float>? _fill;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, float, float>? _axpby;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int>? _unary;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _unaryBackward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _binary;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>? _mulAccumulate;

    protected override void FillCore(Tensor y, float value)
    {
        if (y.Numel == 0) return;
        _fill ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(ElementwiseKernels.Fill);
        _fill(y.Numel, F(y), value);
    }

    protected override void AxpbyCore(Tensor x, Tensor y, float a, float b)
    {
        if (x.Numel == 0) return;
        _axpby ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float, float>(ElementwiseKernels.Axpby);
        _axpby(x.Numel, F(x), F(y), a, b);
    }

    protected override void UnaryCore(UnaryOp op, Tensor x, Tensor y)
    {
        if (x.Numel == 0) return;
        _unary ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.Unary);
        _unary(x.Numel, F(x), F(y), (int)op);
    }

    protected override void UnaryBackwardCore(UnaryOp op, Tensor x, Tensor y, Tensor dy, Tensor dx)
    {
        if (x.Numel == 0) return;
        _unaryBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.UnaryBackward);
        _unaryBackward(x.Numel, F(x), F(y), F(dy), F(dx), (int)op);
    }

    protected override void BinaryCore(BinaryOp op, Tensor a, Tensor b, Tensor y)
    {
        if (a.Numel == 0) return;
        _binary ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ElementwiseKernels.Binary);
        _binary(a.Numel, F(a), F(b), F(y), (int)op);
    }

    protected override void MulAccumulateCore(Tensor a, Tensor b, Tensor y)
    {
        if (a.Numel == 0) return;
        _mulAccumulate ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(ElementwiseKernels.MulAccumulate);
        _mulAccumulate(a.Numel, F(a), F(b), F(y));
    }
}
