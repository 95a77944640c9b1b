using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Optimizer kernels. CPU twin: src/NativeVq.Runtime/Cpu/Optim.cs (CpuOptim). Tests:
/// tests/NativeVq.Tests/Kernels/CodebookParityTests.cs (OptimParity); bench: bench/NativeVq.Bench/CodebookBench.cs.
/// </summary>
public static class OptimKernels
{
    /// <summary>One thread per parameter element: the PyTorch 1.13 Adam update (see Backend.AdamStep), in place.</summary>
    public static void AdamStep(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, AdamArgs a)
    {
        float gi = g[i];
        if (a.WeightDecay != 0f) gi += p[i] * a.WeightDecay;
        float mi = m[i] * a.Beta1 + gi * a.OneMinusBeta1;
        float vi = v[i] * a.Beta2 + (gi * gi) * a.OneMinusBeta2;
        float denom = XMath.Sqrt(vi) / a.Bc2Sqrt + a.Eps;
        p[i] -= a.StepSize * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }

    /// <summary>partial[block] = Σ x² over a fixed 1024-element block (the CPU's blocking), in float.</summary>
    public static void SumSquaresBlocks(Index1D block, ArrayView<float> x, ArrayView<double> partial, int n)
    {
        int s = block * LossKernels.Block, e = Math.Min(n, s + LossKernels.Block);
        float acc = 0f;
        for (int i = s; i < e; i++) acc += x[i] * x[i];
        partial[block] = acc;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamArgs>? _adamStep;
    private Action<Index1D, ArrayView<float>, ArrayView<double>, int>? _sumSquaresBlocks;

    protected override void AdamStepCore(Tensor p, Tensor g, Tensor m, Tensor v, in AdamArgs args)
    {
        if (p.Numel == 0) return;
        _adamStep ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamArgs>(OptimKernels.AdamStep);
        _adamStep(p.Numel, F(p), F(g), F(m), F(v), args);
    }

    protected override void SumSquaresCore(Tensor x, Tensor y, int index)
    {
        int blocks = Math.Max(1, (x.Numel + LossKernels.Block - 1) / LossKernels.Block);
        var partials = LossPartials(blocks);
        if (UseTiledGemm) BlockSumsGrouped(F(x), F(x), partials, x.Numel, 4, BlockSumThreads); // coalesced, one group per block
        else
        {
            _sumSquaresBlocks ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, int>(OptimKernels.SumSquaresBlocks);
            _sumSquaresBlocks(blocks, F(x), partials, x.Numel);
        }
        FinishPartials(partials, blocks, y, index, 1.0);
    }
}
