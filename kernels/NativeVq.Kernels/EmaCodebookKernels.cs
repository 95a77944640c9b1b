using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// The EMA codebook update of a VQ-VAE training step on the device (Backend.EmaCodebookUpdate), so the step no longer
/// downloads the encodings and codes. The simple deterministic form, no atomics: <see cref="Accumulate"/> runs one thread
/// per (code c, channel j), which scans every position's code in order and sums the encodings assigned to c in double
/// (thread j = 0 also counts them), then mixes them into the EMA state; <see cref="Normalise"/> runs one thread per
/// (c, j), which sums the K cluster sizes in order itself (K ≤ a few thousand: cheaper than another launch and a scratch
/// buffer) and writes the Laplace-smoothed code. Same loop orders and float/double mix as the CPU twin, so results agree
/// to rounding (the only difference: the device may contract a multiply-add). Codes outside [0, k) match no code and are
/// not counted (they come from the argmin; the CPU twin checks them).
/// Reads the codes K·D times (4·N·H·W·K·D bytes): fine at the trainers' K ≤ 1024, D ≤ 64 next to the step's convolutions.
/// CPU twin: src/NativeVq.Runtime/Cpu/Codebook.cs (CpuCodebook.EmaCodebookUpdate). Tests: EmaCodebookParityTests;
/// bench: codebook (ilgpu_cpu_ema_update).
/// </summary>
public static class EmaCodebookKernels
{
    public static void Accumulate(Index1D i, ArrayView<float> z, ArrayView<int> indices, ArrayView<float> size, ArrayView<float> embed,
        int positions, int hw, int d, float decay)
    {
        int c = i / d, j = i - c * d;
        double sum = 0, count = 0;
        for (int p = 0; p < positions; p++)
        {
            if (indices[p] != c) continue;
            int img = p / hw, pos = p - img * hw;
            count += 1;
            sum += z[(img * d + j) * hw + pos];
        }
        embed[i] = (float)(decay * embed[i] + (1 - decay) * sum);
        if (j == 0) size[c] = (float)(decay * size[c] + (1 - decay) * count);
    }

    public static void Normalise(Index1D i, ArrayView<float> size, ArrayView<float> embed, ArrayView<float> book, int k, int d, float eps)
    {
        int c = i / d;
        double total = 0;
        for (int q = 0; q < k; q++) total += size[q];
        double smoothed = (size[c] + eps) / (total + k * eps) * total;
        book[i] = (float)(embed[i] / smoothed);
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int, float>? _emaAccumulate;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>? _emaNormalise;

    protected override void EmaCodebookUpdateCore(Tensor zE, Tensor indices, Tensor clusterSize, Tensor embedSum, Tensor codebook,
        int n, int d, int hw, int k, float decay, float eps)
    {
        if (k * d == 0) return;
        _emaAccumulate ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int, float>(EmaCodebookKernels.Accumulate);
        _emaNormalise ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>(EmaCodebookKernels.Normalise);
        _emaAccumulate(k * d, F(zE), I(indices), F(clusterSize), F(embedSum), n * hw, hw, d, decay);
        _emaNormalise(k * d, F(clusterSize), F(embedSum), F(codebook), k, d, eps);
    }
}
