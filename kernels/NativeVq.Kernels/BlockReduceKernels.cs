using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// The first pass of the full reductions — Σx (SumAll), Σx² (the optimizer's SumSquares for gradient clipping) and the
/// pair losses' Σ(a − b)², Σ|a − b|, Σ bce (LossKernels) — with one group per 1024-element block instead of one thread:
/// the one-thread kernels have each thread walk its own block serially, so a warp's 32 loads hit 32 blocks 4 KB apart
/// (32 sectors per load instruction) and a 131 k-element loss runs 128 threads with 1024-long dependent chains. Here the
/// group's threads read the block with consecutive threads on consecutive elements (coalesced), reduce in registers,
/// then with a <see cref="Warp.ShuffleDown"/> tree per warp and the warps' sums in shared memory, in a fixed order —
/// deterministic for a given group size. partial[block] gets the block's float sum, as before, and the existing
/// in-order double finish (<see cref="LossKernels.Finish"/>, <see cref="ReduceKernels.FinishSum"/>) is unchanged. The sum
/// order within a block differs from the CPU's sequential one (a float rounding of the block sums). CPU twin:
/// src/NativeVq.Runtime/Cpu/Reduce.cs and Cpu/Loss.cs. Tests: BlockReduceParityTests; bench: the gpu check's training
/// stages (every loss and clip-norm goes through these).
/// </summary>
public static class BlockReduceKernels
{
    public const int Block = 1024;

    /// <summary>Largest group: 32 warps of 32, one float of shared memory per warp.</summary>
    public const int MaxThreads = 1024;

    /// <summary>Σ over block Grid.IdxX of <see cref="LossKernels.Term"/> (kinds 0–2), x (kind 3) or x² (kind 4); b is read for kinds 0–2 only.</summary>
    [GroupedKernel]
    public static void BlockSums(ArrayView<float> a, ArrayView<float> b, ArrayView<double> partial, int n, int kind)
    {
        var warpSums = SharedMemory.Allocate<float>(MaxThreads / 4); // simulator warps may be 4 lanes
        int s = Grid.IdxX * Block, e = s + Block < n ? s + Block : n;
        float acc = 0f;
        for (int i = s + Group.IdxX; i < e; i += Group.DimX)
        {
            float v = a[i];
            acc += kind == 3 ? v : kind == 4 ? v * v : LossKernels.Term(v, b[i], kind);
        }
        int ws = Warp.WarpSize, warps = Group.DimX / ws, w = Group.IdxX / ws;
        acc = WarpSum(acc);
        if (Warp.IsFirstLane) warpSums[w] = acc;
        Group.Barrier();
        if (w == 0)
        {
            float t = 0f;
            for (int j = Warp.LaneIdx; j < warps; j += ws) t += warpSums[j];
            t = WarpSum(t);
            if (Warp.IsFirstLane) partial[Grid.IdxX] = t;
        }
    }

    /// <summary>Lane 0 gets the warp's sum (a fixed ShuffleDown tree).</summary>
    private static float WarpSum(float v)
    {
        for (int delta = Warp.WarpSize / 2; delta > 0; delta /= 2) v += Warp.ShuffleDown(v, delta);
        return v;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<double>, int, int>? _blockSumsGrouped;

    /// <summary>Threads per block-sum group: 256 on a GPU, what the device's group holds elsewhere (whole warps).</summary>
    internal int BlockSumThreads => Math.Max(Accelerator.WarpSize, Math.Min(256, Accelerator.MaxNumThreadsPerGroup) / Accelerator.WarpSize * Accelerator.WarpSize);

    /// <summary>partial[0 .. blocks) = the 1024-element block sums of the kind's term, one group of <paramref name="threads"/> per block.</summary>
    internal void BlockSumsGrouped(ArrayView<float> a, ArrayView<float> b, ArrayView<double> partial, int n, int kind, int threads)
    {
        int ws = Accelerator.WarpSize;
        if (threads < ws || threads % ws != 0 || threads > Math.Min(BlockReduceKernels.MaxThreads, Accelerator.MaxNumThreadsPerGroup) || threads / ws > BlockReduceKernels.MaxThreads / 4)
            throw new ArgumentException($"block sums: {threads} threads must be whole warps of {ws} within the group limit");
        int blocks = Math.Max(1, (n + BlockReduceKernels.Block - 1) / BlockReduceKernels.Block);
        _blockSumsGrouped ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<double>, int, int>(BlockReduceKernels.BlockSums);
        _blockSumsGrouped(new KernelConfig(new Index1D(blocks), new Index1D(threads)), a, b, partial, n, kind);
    }
}
