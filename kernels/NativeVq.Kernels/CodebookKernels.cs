using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Vector-quantisation kernels. CPU twin: src/NativeVq.Runtime/Cpu/Codebook.cs (CpuCodebook).
/// Tests: tests/NativeVq.Tests/Kernels/CodebookParityTests.cs; bench: bench/NativeVq.Bench/CodebookBench.cs.
/// Latents are NCHW [N, D, H, W]; position i = n·hw + p.
/// </summary>
public static class CodebookKernels
{
    /// <summary>
    /// One thread per position: scans the K codes in order, dist = (|z|² − 2 z·e) + |e|² with the channel sums
    /// in order, keeps the first strict minimum (ties to the lowest index, as the CPU and torch.argmin).
    /// Adjacent threads read adjacent positions of one channel (coalesced); the codebook reads are uniform across a warp.
    /// </summary>
    public static void NearestCode(Index1D i, ArrayView<float> z, ArrayView<float> codebook, ArrayView<int> indices, int d, int hw, int k)
    {
        int img = i / hw, p = i - img * hw;
        int zo = img * d * hw + p;
        float zz = 0f;
        for (int c = 0; c < d; c++)
        {
            float v = z[zo + c * hw];
            zz += v * v;
        }
        float best = float.PositiveInfinity;
        int bestK = 0;
        for (int code = 0; code < k; code++)
        {
            float dot = 0f, ee = 0f;
            int eo = code * d;
            for (int c = 0; c < d; c++)
            {
                float e = codebook[eo + c];
                dot += z[zo + c * hw] * e;
                ee += e * e;
            }
            float dist = (zz - 2f * dot) + ee;
            if (dist < best)
            {
                best = dist;
                bestK = code;
            }
        }
        indices[i] = bestK;
    }

    /// <summary>One thread per output element zq[n,c,p] = codebook[idx[n,p], c]; an invalid code gives NaN (the CPU throws).</summary>
    public static void Gather(Index1D i, ArrayView<float> codebook, ArrayView<int> indices, ArrayView<float> zq, int d, int hw, int k)
    {
        int img = i / (d * hw), r = i - img * d * hw, c = r / hw, p = r - c * hw;
        int code = indices[img * hw + p];
        zq[i] = code >= 0 && code < k ? codebook[code * d + c] : float.NaN;
    }

    /// <summary>One thread per dzq element, Atomic.Add into the code row it came from (order-dependent rounding only).</summary>
    public static void GatherBackward(Index1D i, ArrayView<float> dzq, ArrayView<int> indices, ArrayView<float> dcodebook, int d, int hw, int k)
    {
        int img = i / (d * hw), r = i - img * d * hw, c = r / hw, p = r - c * hw;
        int code = indices[img * hw + p];
        if (code >= 0 && code < k) Atomic.Add(ref dcodebook[code * d + c], dzq[i]);
    }

    /// <summary>
    /// One thread per output element y[n,c,p] = (idx[n,p] == c). A code outside [0, k) leaves its column zero and
    /// records the smallest offending position in error[0] (Atomic.Min), which the host checks after the launch.
    /// </summary>
    public static void OneHot(Index1D i, ArrayView<int> indices, ArrayView<float> y, ArrayView<int> error, int k, int hw)
    {
        int img = i / (k * hw), r = i - img * k * hw, c = r / hw, p = r - c * hw;
        int pos = img * hw + p;
        int code = indices[pos];
        y[i] = code == c ? 1f : 0f;
        if (c == 0 && (code < 0 || code >= k)) Atomic.Min(ref error[0], pos);
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>? _nearestCode;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>? _gatherCodes;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>? _gatherCodesBackward;
    private Action<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<int>, int, int>? _oneHot;
    private MemoryBuffer1D<int, Stride1D.Dense>? _oneHotError;

    protected override void NearestCodeCore(Tensor z, Tensor codebook, Tensor indices, int n, int d, int hw, int k)
    {
        if (n * hw == 0 || (UseTiledGemm && NearestCodeTiled(z, codebook, indices, n, d, hw, k, GemmTile))) return;
        NearestCodeNaive(z, codebook, indices, n, d, hw, k);
    }

    /// <summary>The one-thread-per-position scan (the baseline bench/gpu_check.sh compares the tiled kernel against).</summary>
    internal void NearestCodeNaive(Tensor z, Tensor codebook, Tensor indices, int n, int d, int hw, int k)
    {
        if (n * hw == 0) return;
        _nearestCode ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int>(CodebookKernels.NearestCode);
        _nearestCode(n * hw, F(z), F(codebook), I(indices), d, hw, k);
    }

    protected override void GatherCodesCore(Tensor codebook, Tensor indices, Tensor zq, int n, int d, int hw, int k)
    {
        if (n * d * hw == 0) return;
        _gatherCodes ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(CodebookKernels.Gather);
        _gatherCodes(n * d * hw, F(codebook), I(indices), F(zq), d, hw, k);
    }

    protected override void GatherCodesBackwardCore(Tensor dzq, Tensor indices, Tensor dcodebook, int n, int d, int hw, int k)
    {
        if (n * d * hw == 0) return;
        _gatherCodesBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(CodebookKernels.GatherBackward);
        _gatherCodesBackward(n * d * hw, F(dzq), I(indices), F(dcodebook), d, hw, k);
    }

    /// <summary>Launches the one-hot kernel, then reads back one int to report a bad code (a host sync, by design: wrong codes must not pass silently).</summary>
    protected override void OneHotCore(Tensor indices, Tensor y, int n, int k, int hw)
    {
        if (n * k * hw == 0) return;
        _oneHot ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<float>, ArrayView<int>, int, int>(CodebookKernels.OneHot);
        _oneHotError ??= Accelerator.Allocate1D<int>(1);
        // Codes checked on the host (Tensor.FromCodes) never set the flag: no flag round trip inside a training step.
        if (indices.CodesKnownBelow(k)) { _oneHot(n * k * hw, I(indices), F(y), _oneHotError.View, k, hw); return; }
        var noError = new[] { int.MaxValue };
        using (CountedCopy(true, 4)) _oneHotError.View.CopyFromCPU(noError);
        _oneHot(n * k * hw, I(indices), F(y), _oneHotError.View, k, hw);
        var err = new int[1];
        Accelerator.Synchronize();
        using (CountedCopy(false, 4)) _oneHotError.View.CopyToCPU(err);
        if (err[0] != int.MaxValue)
        {
            var code = new int[1];
            using (CountedCopy(false, 4)) I(indices).SubView(err[0], 1).CopyToCPU(code);
            throw CodeOutOfRange("one_hot", err[0], code[0], k, hw);
        }
    }
}
