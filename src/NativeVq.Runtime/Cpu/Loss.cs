using System.Numerics.Tensors;

namespace NativeVq.Cpu;

/// <summary>
/// Fused MSE / L1 losses (CPU twins of kernels/NativeVq.Kernels/LossKernels.cs). The forward never materialises
/// a [n] difference tensor: each fixed 1024-element block (the blocking of <see cref="CpuReduce"/> and the GPU)
/// is differenced into a stack buffer and reduced in float; block sums are combined in order in double.
/// </summary>
public static class CpuLoss
{
    public const int Block = CpuReduce.Block;

    /// <summary>mean((a − b)²) or mean(|a − b|).</summary>
    public static float Forward(PairLoss loss, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"loss: {a.Length} vs {b.Length} elements");
        if (a.Length == 0) return float.NaN; // torch: mean of an empty tensor is NaN
        Span<float> diff = stackalloc float[Block];
        double total = 0;
        for (int s = 0; s < a.Length; s += Block)
        {
            int len = Math.Min(Block, a.Length - s);
            var dv = diff.Slice(0, len);
            TensorPrimitives.Subtract(a.Slice(s, len), b.Slice(s, len), dv);
            total += loss == PairLoss.Mse ? TensorPrimitives.SumOfSquares(dv) : TensorPrimitives.SumOfMagnitudes(dv);
        }
        return (float)(total / a.Length);
    }

    /// <summary>
    /// da += s·f'(a − b), db −= s·f'(a − b) with s = upstream/n and f' = 2(a − b) (MSE) or sign(a − b), sign(0) = 0 (L1).
    /// </summary>
    public static void Backward(PairLoss loss, ReadOnlySpan<float> a, ReadOnlySpan<float> b, float upstream, Span<float> da, Span<float> db)
    {
        int n = a.Length;
        if (n == 0) return;
        float s = upstream / n;
        Span<float> t = stackalloc float[Block];
        for (int o = 0; o < n; o += Block)
        {
            int len = Math.Min(Block, n - o);
            var tv = t.Slice(0, len);
            TensorPrimitives.Subtract(a.Slice(o, len), b.Slice(o, len), tv);
            if (loss == PairLoss.Mse) TensorPrimitives.Multiply(tv, 2f * s, tv);
            else
            {
                for (int i = 0; i < len; i++) tv[i] = tv[i] > 0f ? s : tv[i] < 0f ? -s : 0f;
            }
            if (!da.IsEmpty) TensorPrimitives.Add(da.Slice(o, len), tv, da.Slice(o, len));
            if (!db.IsEmpty) TensorPrimitives.Subtract(db.Slice(o, len), tv, db.Slice(o, len));
        }
    }
}

public sealed partial class CpuBackend
{
    protected override void LossForwardCore(PairLoss loss, Tensor a, Tensor b, Tensor y) => F(y)[0] = CpuLoss.Forward(loss, F(a), F(b));

    protected override void LossBackwardCore(PairLoss loss, Tensor a, Tensor b, Tensor g, Tensor? da, Tensor? db)
        => CpuLoss.Backward(loss, F(a), F(b), F(g)[0], da is null ? Span<float>.Empty : F(da), db is null ? Span<float>.Empty : F(db));
}
