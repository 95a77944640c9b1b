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

    /// <summary>mean((a − b)²) or mean(|a − b|). Blocks are reduced in parallel into a partial array, then added in order.</summary>
    public static unsafe float Forward(PairLoss loss, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"loss: {a.Length} vs {b.Length} elements");
        int n = a.Length;
        if (n == 0) return float.NaN; // torch: mean of an empty tensor is NaN
        int blocks = (n + Block - 1) / Block;
        var partial = new double[blocks];
        fixed (float* ap0 = a, bp0 = b)
        {
            float* ap = ap0, bp = bp0;
            CpuParallel.For(blocks, 32, (s, e) =>
            {
                Span<float> diff = stackalloc float[Block];
                for (int blk = s; blk < e; blk++)
                {
                    int o = blk * Block, len = Math.Min(Block, n - o);
                    var dv = diff.Slice(0, len);
                    TensorPrimitives.Subtract(new ReadOnlySpan<float>(ap + o, len), new ReadOnlySpan<float>(bp + o, len), dv);
                    partial[blk] = loss == PairLoss.Mse ? TensorPrimitives.SumOfSquares(dv) : TensorPrimitives.SumOfMagnitudes(dv);
                }
            });
        }
        double total = 0;
        foreach (var v in partial) total += v;
        return (float)(total / n);
    }

    /// <summary>
    /// da += s·f'(a − b), db −= s·f'(a − b) with s = upstream/n and f' = 2(a − b) (MSE) or sign(a − b), sign(0) = 0 (L1).
    /// </summary>
    public static unsafe void Backward(PairLoss loss, ReadOnlySpan<float> a, ReadOnlySpan<float> b, float upstream, Span<float> da, Span<float> db)
    {
        int n = a.Length;
        if (n == 0) return;
        float s = upstream / n;
        bool hasDa = !da.IsEmpty, hasDb = !db.IsEmpty;
        fixed (float* ap0 = a, bp0 = b, dap0 = da, dbp0 = db)
        {
            float* ap = ap0, bp = bp0, dap = dap0, dbp = dbp0;
            CpuParallel.For((n + Block - 1) / Block, 32, (s0, e0) =>
            {
                Span<float> tv0 = stackalloc float[Block];
                for (int blk = s0; blk < e0; blk++)
                {
                    int o = blk * Block, len = Math.Min(Block, n - o);
                    var tv = tv0.Slice(0, len);
                    TensorPrimitives.Subtract(new ReadOnlySpan<float>(ap + o, len), new ReadOnlySpan<float>(bp + o, len), tv);
                    if (loss == PairLoss.Mse) TensorPrimitives.Multiply(tv, 2f * s, tv);
                    else
                        for (int i = 0; i < len; i++) tv[i] = tv[i] > 0f ? s : tv[i] < 0f ? -s : 0f;
                    if (hasDa) { var d = new Span<float>(dap + o, len); TensorPrimitives.Add(d, tv, d); }
                    if (hasDb) { var d = new Span<float>(dbp + o, len); TensorPrimitives.Subtract(d, tv, d); }
                }
            });
        }
    }
}

public sealed partial class CpuBackend
{
    protected override void LossForwardCore(PairLoss loss, Tensor a, Tensor b, Tensor y) => F(y)[0] = CpuLoss.Forward(loss, F(a), F(b));

    protected override void LossBackwardCore(PairLoss loss, Tensor a, Tensor b, Tensor g, Tensor? da, Tensor? db)
        => CpuLoss.Backward(loss, F(a), F(b), F(g)[0], da is null ? Span<float>.Empty : F(da), db is null ? Span<float>.Empty : F(db));
}
