using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Fused MSE / L1 / BCE-with-logits losses. CPU twin: src/NativeVq.Runtime/Cpu/Loss.cs (CpuLoss). The forward is two deterministic
/// passes with the CPU's blocking (one thread per 1024-element block, then one thread adds the blocks in order
/// in double and divides by n); the backward is one thread per element reading the upstream scalar from device memory.
/// </summary>
public static class LossKernels
{
    public const int Block = 1024;

    /// <summary>partial[block] = Σ over the block of (a − b)² (kind 0), |a − b| (kind 1) or bce_with_logits(a, b) (kind 2), in float.</summary>
    public static void BlockSums(Index1D block, ArrayView<float> a, ArrayView<float> b, ArrayView<double> partial, int n, int kind)
    {
        int s = block * Block, e = Math.Min(n, s + Block);
        float acc = 0f;
        for (int i = s; i < e; i++)
        {
            float d = a[i] - b[i];
            acc += kind == 0 ? d * d : kind == 1 ? Math.Abs(d) : BceWithLogits(a[i], b[i]);
        }
        partial[block] = acc;
    }

    /// <summary>One element's term of the block sums: (a − b)² (kind 0), |a − b| (kind 1), bce_with_logits(a, b) (kind 2).</summary>
    internal static float Term(float a, float b, int kind)
    {
        float d = a - b;
        return kind == 0 ? d * d : kind == 1 ? Math.Abs(d) : BceWithLogits(a, b);
    }

    /// <summary>max(x, 0) − x·t + log(1 + exp(−|x|)), with CpuLoss.Log1pExpNeg's series for small exp(−|x|).</summary>
    private static float BceWithLogits(float x, float t)
    {
        float e = XMath.Exp(-Math.Abs(x));
        float softplus = e < 0.01f ? e * (1f - e * (0.5f - e / 3f)) : XMath.Log(1f + e);
        return Math.Max(x, 0f) - x * t + softplus;
    }

    /// <summary>σ(x) without overflow for either sign of x.</summary>
    private static float StableSigmoid(float x)
    {
        float e = XMath.Exp(-Math.Abs(x));
        return x >= 0f ? 1f / (1f + e) : e / (1f + e);
    }

    /// <summary>y[slot] = (float)(Σ partial / divisor), blocks added in order (shared with the optimizer's SumSquares).</summary>
    public static void Finish(Index1D index, ArrayView<double> partial, ArrayView<float> y, int blocks, int slot, double divisor)
    {
        double acc = 0;
        for (int b = 0; b < blocks; b++) acc += partial[b];
        y[slot] = (float)(acc / divisor);
    }

    /// <summary>
    /// da[i] += v, db[i] −= v with v = 2(a − b)·g/n (MSE) or sign(a − b)·g/n (L1), sign(0) = 0;
    /// BCE with logits (kind 2): da[i] += (σ(a) − b)·g/n, db[i] −= a·g/n.
    /// </summary>
    public static void Backward(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> g, ArrayView<float> da, ArrayView<float> db,
        int n, int kind, int hasDa, int hasDb)
    {
        float s = g[0] / n;
        if (kind == 2)
        {
            if (hasDa != 0) da[i] += s * (StableSigmoid(a[i]) - b[i]);
            if (hasDb != 0) db[i] -= s * a[i];
            return;
        }
        float d = a[i] - b[i];
        float v = kind == 0 ? d * (2f * s) : d > 0f ? s : d < 0f ? -s : 0f;
        if (hasDa != 0) da[i] += v;
        if (hasDb != 0) db[i] -= v;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>, int, int>? _lossBlockSums;
    private Action<Index1D, ArrayView<double>, ArrayView<float>, int, int, double>? _lossFinish;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>? _lossBackward;
    private MemoryBuffer1D<double, Stride1D.Dense>? _lossPartials;

    /// <summary>Scratch for block sums of the loss and SumSquares kernels (grown, never shrunk; freed with the accelerator).</summary>
    private ArrayView<double> LossPartials(int blocks)
    {
        if (_lossPartials is null || _lossPartials.Length < blocks)
        {
            _lossPartials?.Dispose();
            _lossPartials = Accelerator.Allocate1D<double>(Math.Max(blocks, 1024));
        }
        return _lossPartials.View;
    }

    private void FinishPartials(ArrayView<double> partials, int blocks, Tensor y, int slot, double divisor)
    {
        _lossFinish ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<double>, ArrayView<float>, int, int, double>(LossKernels.Finish);
        _lossFinish(1, partials, F(y), blocks, slot, divisor);
    }

    protected override void LossForwardCore(PairLoss loss, Tensor a, Tensor b, Tensor y)
    {
        if (a.Numel == 0) { Fill(y, float.NaN); return; }
        int blocks = (a.Numel + LossKernels.Block - 1) / LossKernels.Block;
        var partials = LossPartials(blocks);
        if (UseTiledGemm) BlockSumsGrouped(F(a), F(b), partials, a.Numel, (int)loss, BlockSumThreads); // coalesced, one group per block
        else
        {
            _lossBlockSums ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<double>, int, int>(LossKernels.BlockSums);
            _lossBlockSums(blocks, F(a), F(b), partials, a.Numel, (int)loss);
        }
        FinishPartials(partials, blocks, y, 0, a.Numel);
    }

    protected override void LossBackwardCore(PairLoss loss, Tensor a, Tensor b, Tensor g, Tensor? da, Tensor? db)
    {
        if (a.Numel == 0) return;
        _lossBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(LossKernels.Backward);
        var av = F(a);
        _lossBackward(a.Numel, av, F(b), F(g), da is null ? av : F(da), db is null ? av : F(db), a.Numel, (int)loss, da is null ? 0 : 1, db is null ? 0 : 1);
    }
}
