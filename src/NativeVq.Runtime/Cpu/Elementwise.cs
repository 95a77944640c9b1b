using System.Numerics;
using System.Runtime.InteropServices;
using System.Numerics.Tensors;

namespace NativeVq.Cpu;

/// <summary>Elementwise kernels on spans (CPU twins of kernels/NativeVq.Kernels/ElementwiseKernels.cs).</summary>
public static class CpuElementwise
{
    private const int Grain = 32 * 1024;

    public static void Axpby(ReadOnlySpan<float> x, Span<float> y, float a, float b)
    {
        if (b == 0f)
        {
            if (a == 1f) x.CopyTo(y);
            else TensorPrimitives.Multiply(x, a, y);
        }
        else if (b == 1f) TensorPrimitives.MultiplyAdd(x, a, y, y);
        else
        {
            TensorPrimitives.Multiply(y, b, y);
            TensorPrimitives.MultiplyAdd(x, a, y, y);
        }
    }

    public static void Unary(UnaryOp op, ReadOnlySpan<float> x, Span<float> y)
    {
        switch (op)
        {
            case UnaryOp.Relu: TensorPrimitives.Max(x, 0f, y); break;
            case UnaryOp.Sigmoid: TensorPrimitives.Sigmoid(x, y); break;
            case UnaryOp.Tanh: TensorPrimitives.Tanh(x, y); break;
            case UnaryOp.Elu:
                for (int i = 0; i < x.Length; i++) y[i] = x[i] > 0f ? x[i] : MathF.Exp(x[i]) - 1f;
                break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    /// <summary>dx += f'(x)·dy, with the derivative conventions of PyTorch (ReLU'(0) = 0, ELU'(0) = 1).</summary>
    public static void UnaryBackward(UnaryOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        switch (op)
        {
            case UnaryOp.Relu:
                for (int i = 0; i < x.Length; i++) dx[i] += x[i] > 0f ? dy[i] : 0f;
                break;
            case UnaryOp.Elu:
                for (int i = 0; i < x.Length; i++) dx[i] += x[i] > 0f ? dy[i] : dy[i] * (y[i] + 1f);
                break;
            case UnaryOp.Sigmoid:
                for (int i = 0; i < x.Length; i++) dx[i] += dy[i] * y[i] * (1f - y[i]);
                break;
            case UnaryOp.Tanh:
                for (int i = 0; i < x.Length; i++) dx[i] += dy[i] * (1f - y[i] * y[i]);
                break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    public static void Binary(BinaryOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(a, b, y); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(a, b, y); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(a, b, y); break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    public static void MulAccumulate(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
        => TensorPrimitives.MultiplyAdd(a, b, y, y);

    /// <summary>Runs a span kernel over large arrays in parallel chunks (elementwise, so chunking is exact).</summary>
    internal static void Chunked(float[] x, float[] y, int n, SpanAction2 body)
    {
        if (n < 2 * Grain)
        {
            body(x.AsSpan(0, n), y.AsSpan(0, n));
            return;
        }
        CpuParallel.For(n, Grain, (s, e) => body(x.AsSpan(s, e - s), y.AsSpan(s, e - s)));
    }

    internal delegate void SpanAction2(Span<float> x, Span<float> y);
}

public sealed partial class CpuBackend
{
    protected override void FillCore(Tensor y, float value) => F(y).Fill(value);

    protected override void AxpbyCore(Tensor x, Tensor y, float a, float b)
        => CpuElementwise.Chunked(Array(x), Array(y), x.Numel, (xs, ys) => CpuElementwise.Axpby(xs, ys, a, b));

    protected override void UnaryCore(UnaryOp op, Tensor x, Tensor y)
        => CpuElementwise.Chunked(Array(x), Array(y), x.Numel, (xs, ys) => CpuElementwise.Unary(op, xs, ys));

    protected override void UnaryBackwardCore(UnaryOp op, Tensor x, Tensor y, Tensor dy, Tensor dx)
        => CpuElementwise.UnaryBackward(op, F(x), F(y), F(dy), F(dx));

    protected override void BinaryCore(BinaryOp op, Tensor a, Tensor b, Tensor y)
        => CpuElementwise.Binary(op, F(a), F(b), F(y));

    protected override void MulAccumulateCore(Tensor a, Tensor b, Tensor y)
        => CpuElementwise.MulAccumulate(F(a), F(b), F(y));
}
