using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace NativeVq.Cpu;

/// <summary>
/// Fused MSE / L1 / BCE-with-logits losses (CPU twins of kernels/NativeVq.Kernels/LossKernels.cs). The forward never materialises
/// a [n] difference tensor: each fixed 1024-element block (the blocking of <see cref="CpuReduce"/> and the GPU)
/// is differenced into a stack buffer and reduced in float; block sums are combined in order in double.
/// </summary>
public static class CpuLoss
{
    public const int Block = CpuReduce.Block;

    /// <summary>mean((a − b)²), mean(|a − b|) or mean(bce_with_logits(a, b)). Blocks are reduced in parallel into a partial array, then added in order.</summary>
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
                    if (loss == PairLoss.BceWithLogits)
                    {
                        float acc = 0f;
                        for (int i = o; i < o + len; i++) acc += BceWithLogits(ap[i], bp[i]);
                        partial[blk] = acc;
                        continue;
                    }
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

    /// <summary>max(x, 0) − x·t + log(1 + exp(−|x|)): never overflows, and exact to float rounding for any logit x.</summary>
    public static float BceWithLogits(float x, float t) => MathF.Max(x, 0f) - x * t + Log1pExpNeg(MathF.Abs(x));

    /// <summary>
    /// log(1 + exp(−u)) for u ≥ 0. Below e = 0.01 a three-term series (relative error e³/4) replaces log(1 + e), whose
    /// float rounding of 1 + e would lose most digits of a small e. The ILGPU kernel computes it the same way.
    /// </summary>
    public static float Log1pExpNeg(float u)
    {
        float e = MathF.Exp(-u);
        return e < 0.01f ? e * (1f - e * (0.5f - e / 3f)) : MathF.Log(1f + e);
    }

    /// <summary>σ(x) without overflow for either sign of x.</summary>
    public static float StableSigmoid(float x)
    {
        if (x >= 0f) return 1f / (1f + MathF.Exp(-x));
        float e = MathF.Exp(x);
        return e / (1f + e);
    }

    /// <summary>
    /// da += s·f'(a − b), db −= s·f'(a − b) with s = upstream/n and f' = 2(a − b) (MSE) or sign(a − b), sign(0) = 0 (L1);
    /// BCE with logits: da += s·(σ(a) − b), db −= s·a.
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
                    if (loss == PairLoss.BceWithLogits)
                    {
                        // d/dx = σ(x) − t, d/dt = −x.
                        for (int i = o; i < o + len; i++)
                        {
                            if (hasDa) dap[i] += s * (StableSigmoid(ap[i]) - bp[i]);
                            if (hasDb) dbp[i] -= s * ap[i];
                        }
                        continue;
                    }
                    if (loss == PairLoss.Mse && Vector512.IsHardwareAccelerated)
                    {
                        MseBackwardBlock(ap + o, bp + o, hasDa ? dap + o : null, hasDb ? dbp + o : null, len, 2f * s);
                        continue;
                    }
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
    /// <summary>
    /// One block of the MSE backward in a single loop: t = (a − b)·k, da = da + t, db = db − t, the same three float
    /// operations per element as the library passes through the stack buffer (Subtract, Multiply, Add / Subtract), so the same bits.
    /// </summary>
    private static unsafe void MseBackwardBlock(float* a, float* b, float* da, float* db, int len, float k)
    {
        int i = 0;
        var kv = Vector512.Create(k);
        for (; i <= len - 16; i += 16)
        {
            var t = (Vector512.Load(a + i) - Vector512.Load(b + i)) * kv;
            if (da != null) Vector512.Store(Vector512.Load(da + i) + t, da + i);
            if (db != null) Vector512.Store(Vector512.Load(db + i) - t, db + i);
        }
        for (; i < len; i++)
        {
            float t = (a[i] - b[i]) * k;
            if (da != null) da[i] += t;
            if (db != null) db[i] -= t;
        }
    }
}

public sealed partial class CpuBackend
{
    protected override void LossForwardCore(PairLoss loss, Tensor a, Tensor b, Tensor y) => F(y)[0] = CpuLoss.Forward(loss, F(a), F(b));

    protected override void LossBackwardCore(PairLoss loss, Tensor a, Tensor b, Tensor g, Tensor? da, Tensor? db)
        => CpuLoss.Backward(loss, F(a), F(b), F(g)[0], da is null ? Span<float>.Empty : F(da), db is null ? Span<float>.Empty : F(db));
}
