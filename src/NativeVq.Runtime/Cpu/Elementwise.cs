using System.Numerics;
using System.Runtime.Intrinsics;
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
            case UnaryOp.Relu: Relu(x, y); break;
            case UnaryOp.Sigmoid: VectorMath.Sigmoid(x, y); break;
            case UnaryOp.Tanh: PaddedTail(x, y, static (a, b) => TensorPrimitives.Tanh(a, b)); break;
            case UnaryOp.Elu: VectorMath.Apply(VectorMath.Fn.Elu, x, y); break;
            case UnaryOp.Exp: VectorMath.Exp(x, y); break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    /// <summary>y = max(x, 0) with a plain vector max (TensorPrimitives.Max adds NaN handling we do not need here; 2x slower).</summary>
    private static void Relu(ReadOnlySpan<float> x, Span<float> y)
    {
        int i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated)
            for (; i <= x.Length - 16; i += 16)
                Vector512.Max(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512<float>.Zero).StoreUnsafe(ref yr, (nuint)i);
        for (; i < x.Length; i++) y[i] = x[i] > 0f ? x[i] : 0f;
    }

    private delegate void SpanMap(ReadOnlySpan<float> x, Span<float> y);

    /// <summary>
    /// Runs <paramref name="f"/> on the 16-aligned body and on a zero-padded 16-element copy of the tail.
    /// TensorPrimitives' transcendental functions take different code paths for short spans, so without this
    /// an element's value would depend on the array length; with it, every element goes through the same vector code.
    /// </summary>
    private static void PaddedTail(ReadOnlySpan<float> x, Span<float> y, SpanMap f)
    {
        const int width = 16;
        int body = x.Length - x.Length % width;
        if (body > 0) f(x[..body], y[..body]);
        if (body == x.Length) return;
        Span<float> tx = stackalloc float[width], ty = stackalloc float[width];
        tx.Clear();
        x[body..].CopyTo(tx);
        f(tx, ty);
        ty[..(x.Length - body)].CopyTo(y[body..]);
    }

    /// <summary>dx += f'(x)·dy, with the derivative conventions of PyTorch (ReLU'(0) = 0, ELU'(0) = 1).</summary>
    public static void UnaryBackward(UnaryOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        switch (op)
        {
            case UnaryOp.Relu: ReluBackward(x, dy, dx); break;
            case UnaryOp.Elu: EluBackward(x, y, dy, dx); break;
            case UnaryOp.Sigmoid:
                for (int i = 0; i < x.Length; i++) dx[i] += dy[i] * y[i] * (1f - y[i]);
                break;
            case UnaryOp.Tanh:
                for (int i = 0; i < x.Length; i++) dx[i] += dy[i] * (1f - y[i] * y[i]);
                break;
            case UnaryOp.Exp:   // exp' = exp: the saved output is the derivative
                TensorPrimitives.MultiplyAdd(dy, y, dx, dx);
                break;
            default: throw new ArgumentOutOfRangeException(nameof(op));
        }
    }

    /// <summary>dx += (x &gt; 0 ? dy : 0), vectorised (a compare-and-select; ReLU'(0) = 0).</summary>
    private static void ReluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(dy);
        ref float dr = ref MemoryMarshal.GetReference(dx);
        if (Vector512.IsHardwareAccelerated)
            for (; i <= x.Length - 16; i += 16)
            {
                var m = Vector512.GreaterThan(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512<float>.Zero);
                var d = Vector512.LoadUnsafe(ref dr, (nuint)i);
                (d + (Vector512.LoadUnsafe(ref gr, (nuint)i) & m.AsSingle())).StoreUnsafe(ref dr, (nuint)i);
            }
        for (; i < x.Length; i++) dx[i] += x[i] > 0f ? dy[i] : 0f;
    }

    /// <summary>dx += (x &gt; 0 ? dy : dy·(y + 1)), vectorised (ELU'(x) = exp(x) = y + 1 for x ≤ 0).</summary>
    private static void EluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float gr = ref MemoryMarshal.GetReference(dy);
        ref float dr = ref MemoryMarshal.GetReference(dx);
        if (Vector512.IsHardwareAccelerated)
            for (; i <= x.Length - 16; i += 16)
            {
                var g = Vector512.LoadUnsafe(ref gr, (nuint)i);
                var neg = g * (Vector512.LoadUnsafe(ref yr, (nuint)i) + Vector512<float>.One);
                var m = Vector512.GreaterThan(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512<float>.Zero);
                (Vector512.LoadUnsafe(ref dr, (nuint)i) + Vector512.ConditionalSelect(m, g, neg)).StoreUnsafe(ref dr, (nuint)i);
            }
        for (; i < x.Length; i++) dx[i] += x[i] > 0f ? dy[i] : dy[i] * (y[i] + 1f);
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

    /// <summary><see cref="Chunked"/> for kernels of four same-length arrays (the unary backward passes).</summary>
    internal static void Chunked4(float[] a, float[] b, float[] c, float[] d, int n, SpanAction4 body)
    {
        if (n < 2 * Grain)
        {
            body(a.AsSpan(0, n), b.AsSpan(0, n), c.AsSpan(0, n), d.AsSpan(0, n));
            return;
        }
        CpuParallel.For(n, Grain, (s, e) => body(a.AsSpan(s, e - s), b.AsSpan(s, e - s), c.AsSpan(s, e - s), d.AsSpan(s, e - s)));
    }

    internal delegate void SpanAction4(Span<float> a, Span<float> b, Span<float> c, Span<float> d);
}

public sealed partial class CpuBackend
{
    /// <summary>Large fills (fresh gradients are zero-filled every step) run on every core: a fill is bandwidth-bound.</summary>
    protected override void FillCore(Tensor y, float value)
    {
        var a = Array(y);
        int n = y.Numel;
        const int grain = 64 * 1024;
        if (n < 2 * grain) a.AsSpan(0, n).Fill(value);
        else CpuParallel.For(n, grain, (s, e) => a.AsSpan(s, e - s).Fill(value));
    }

    protected override void AxpbyCore(Tensor x, Tensor y, float a, float b)
        => CpuElementwise.Chunked(Array(x), Array(y), x.Numel, (xs, ys) => CpuElementwise.Axpby(xs, ys, a, b));

    /// <summary>y = x + 0 (TensorPrimitives.Add with +0: the fill-then-axpby path's x·1 + 0, the same bits).</summary>
    protected override void GradCopyCore(Tensor x, Tensor y)
        => CpuElementwise.Chunked(Array(x), Array(y), x.Numel, static (xs, ys) => TensorPrimitives.Add(xs, 0f, ys));

    protected override void UnaryCore(UnaryOp op, Tensor x, Tensor y)
        => CpuElementwise.Chunked(Array(x), Array(y), x.Numel, (xs, ys) => CpuElementwise.Unary(op, xs, ys));

    protected override void UnaryBackwardCore(UnaryOp op, Tensor x, Tensor y, Tensor dy, Tensor dx)
        => CpuElementwise.Chunked4(Array(x), Array(y), Array(dy), Array(dx), x.Numel,
            (xs, ys, gs, ds) => CpuElementwise.UnaryBackward(op, xs, ys, gs, ds));

    protected override void BinaryCore(BinaryOp op, Tensor a, Tensor b, Tensor y)
        => CpuElementwise.Binary(op, F(a), F(b), F(y));

    protected override void MulAccumulateCore(Tensor a, Tensor b, Tensor y)
        => CpuElementwise.MulAccumulate(F(a), F(b), F(y));
}
