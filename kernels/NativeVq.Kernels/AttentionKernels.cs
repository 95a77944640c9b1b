using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Fused causal attention for the CUDA backend (the flash-attention scheme at PixelSNAIL's small head sizes): one
/// group of B threads per block of B queries of one batch entry (image·heads + head), one thread per query. The
/// group's q block and, key tile by key tile (B keys), k and v sit in shared memory; each thread computes its row's
/// scores for the tile, folds them into a running max m and sum l (online softmax: the accumulated output is
/// rescaled by exp(m_old − m_new) when the max grows) and adds p·v into its output column, so no N×N matrix ever
/// reaches global memory. Tiles past the block's last query are skipped (causal), and masked keys are never read.
/// Writes y (normalised) and lse = m + log l per row, which the backward uses to rebuild P (<see cref="SoftmaxFromLse"/>).
/// Head sizes up to <see cref="MaxHead"/>; B ≤ <see cref="MaxBlock"/> is a launch argument so the CPU simulator's
/// 16-thread groups run it too. CPU twin: src/NativeVq.Runtime/Cpu/Attention.cs. Tests: FusedAttentionParityTests;
/// bench: AttentionBench and bench/gpu_check.sh (attention).
/// </summary>
public static class AttentionKernels
{
    public const int MaxHead = 64, MaxBlock = 32;

    /// <summary>q, k [batch, dh, n], v and y [batch, dvh, n], lse [batch, n]. Grid: (ceil(n/B), batch) groups of B threads.</summary>
    [GroupedKernel]
    public static void FusedCausal(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> y, ArrayView<float> lse,
        int n, int dh, int dvh, float scale, int strict)
    {
        var qs = SharedMemory.Allocate<float>(MaxHead * MaxBlock);   // qs[j·B + i]: query s0 + i, channel j
        var ks = SharedMemory.Allocate<float>(MaxHead * MaxBlock);   // ks[j·B + u]: key t0 + u
        var vs = SharedMemory.Allocate<float>(MaxHead * MaxBlock);   // vs[c·B + u]
        var ps = SharedMemory.Allocate<float>(MaxBlock * MaxBlock);  // ps[u·B + i]: this tile's scores, then weights
        var acc = SharedMemory.Allocate<float>(MaxHead * MaxBlock);  // acc[c·B + i]: unnormalised output
        int nb = Group.DimX, i = Group.IdxX, s0 = Grid.IdxX * nb, b = Grid.IdxY, s = s0 + i;
        int qo = b * dh * n, vo = b * dvh * n;
        for (int e = i; e < dh * nb; e += nb)
        {
            int j = e / nb, si = s0 + e - j * nb;
            qs[e] = si < n ? q[qo + j * n + si] : 0f;
        }
        for (int e = i; e < dvh * nb; e += nb) acc[e] = 0f;
        int len = s < n ? (strict != 0 ? s : s + 1) : 0;                // keys t < len are allowed for this row
        int lastQuery = XMath.Min(n, s0 + nb) - 1;
        int keyEnd = strict != 0 ? lastQuery : lastQuery + 1;           // keys any row of the block may use
        float m = float.NegativeInfinity, l = 0f;
        for (int t0 = 0; t0 < keyEnd; t0 += nb)
        {
            Group.Barrier(); // the previous tile's k and v are no longer read
            for (int e = i; e < dh * nb; e += nb)
            {
                int j = e / nb, t = t0 + e - j * nb;
                ks[e] = t < n ? k[qo + j * n + t] : 0f;
            }
            for (int e = i; e < dvh * nb; e += nb)
            {
                int c = e / nb, t = t0 + e - c * nb;
                vs[e] = t < n ? v[vo + c * n + t] : 0f;
            }
            Group.Barrier();
            int allowed = XMath.Min(nb, len - t0);                       // allowed keys of this row in the tile
            if (allowed <= 0) continue;
            float tmax = float.NegativeInfinity;
            for (int u = 0; u < allowed; u++)
            {
                float dot = 0f;
                for (int j = 0; j < dh; j++) dot += qs[j * nb + i] * ks[j * nb + u];
                float sc = scale * dot;
                ps[u * nb + i] = sc;
                tmax = XMath.Max(tmax, sc);
            }
            float mNew = XMath.Max(m, tmax), corr = XMath.Exp(m - mNew), sum = 0f;   // corr = 0 on the first tile (m = −∞)
            for (int u = 0; u < allowed; u++)
            {
                float p = XMath.Exp(ps[u * nb + i] - mNew);
                ps[u * nb + i] = p;
                sum += p;
            }
            l = l * corr + sum;
            m = mNew;
            for (int c = 0; c < dvh; c++)
            {
                float a = acc[c * nb + i] * corr;
                for (int u = 0; u < allowed; u++) a += ps[u * nb + i] * vs[c * nb + u];
                acc[c * nb + i] = a;
            }
        }
        if (s >= n) return;
        if (l > 0f)
        {
            float inv = 1f / l;
            for (int c = 0; c < dvh; c++) y[vo + c * n + s] = acc[c * nb + i] * inv;
            lse[b * n + s] = m + XMath.Log(l);
        }
        else
        {
            for (int c = 0; c < dvh; c++) y[vo + c * n + s] = 0f;
            lse[b * n + s] = float.NegativeInfinity;
        }
    }

    /// <summary>One thread per element of [batch, n, n]: probs = exp(scale·scores − lse[row]) where allowed, 0 elsewhere (and where lse = −∞).</summary>
    public static void SoftmaxFromLse(Index1D index, ArrayView<float> scores, ArrayView<float> lse, ArrayView<float> probs, int n, float scale, int strict)
    {
        int row = index / n, t = index - row * n, s = row % n, len = strict != 0 ? s : s + 1;
        float l = lse[row];
        probs[index] = t < len && l != float.NegativeInfinity ? XMath.Exp(scale * scores[index] - l) : 0f;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>? _fusedAttention;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>? _softmaxFromLse;

    /// <summary>Queries per group of the fused attention: 32 (one warp) on a GPU, the simulator's group size otherwise.</summary>
    internal int AttentionBlock => Math.Min(AttentionKernels.MaxBlock, Accelerator.MaxNumThreadsPerGroup);

    /// <summary>
    /// Whether <see cref="F.CausalAttentionCore"/> takes the fused forward (for heads it holds): on cuda; the simulator keeps
    /// the GEMM path (its barriers are slow) unless a test switches this on, and the GPU check times both.
    /// </summary>
    internal bool UseFusedAttention { get; set; }

    public override bool PrefersFusedAttention(int dh, int dvh) => UseFusedAttention && dh <= AttentionKernels.MaxHead && dvh <= AttentionKernels.MaxHead;

    protected override void FusedCausalAttentionCore(Tensor q, Tensor k, Tensor v, Tensor y, Tensor lse, int batch, int n, int dh, int dvh, float scale, bool strict)
        => FusedCausalAttentionBlocks(q, k, v, y, lse, batch, n, dh, dvh, scale, strict, AttentionBlock);

    /// <summary>The fused kernel with <paramref name="block"/> queries per group (tests pick small blocks so rows span several key tiles).</summary>
    internal void FusedCausalAttentionBlocks(Tensor q, Tensor k, Tensor v, Tensor y, Tensor lse, int batch, int n, int dh, int dvh, float scale, bool strict, int block)
    {
        if (dh > AttentionKernels.MaxHead || dvh > AttentionKernels.MaxHead)
            throw new ArgumentException($"fused attention: head sizes {dh}/{dvh} exceed {AttentionKernels.MaxHead}");
        if (block < 1 || block > AttentionKernels.MaxBlock || block > Accelerator.MaxNumThreadsPerGroup)
            throw new ArgumentException($"fused attention: block {block} does not fit the kernel or this device");
        if (batch * n == 0) return;
        var grid = new Index3D((n + block - 1) / block, batch, 1);
        var max = Accelerator.MaxGridSize;
        if (grid.X > max.X || grid.Y > max.Y) throw new ArgumentException($"fused attention: grid {grid} exceeds the device's {max}");
        _fusedAttention ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>(AttentionKernels.FusedCausal);
        _fusedAttention(new KernelConfig(grid, new Index3D(block, 1, 1)), F(q), F(k), F(v), F(y), F(lse), n, dh, dvh, scale, strict ? 1 : 0);
    }

    protected override void MaskedSoftmaxFromLseCore(Tensor scores, Tensor lse, Tensor probs, int batch, int n, float scale, bool strict)
    {
        if (batch * n == 0) return;
        _softmaxFromLse ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>(AttentionKernels.SoftmaxFromLse);
        _softmaxFromLse(batch * n * n, F(scores), F(lse), F(probs), n, scale, strict ? 1 : 0);
    }
}
