using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// The code-usage histogram of a training step on the device (so the trainer reads K counts per log interval instead of
/// the step's B·h·w indices every step). One thread per position adds 1 to its code's count with a float atomic: the
/// counts are integers below 2^24, so every order of the additions gives the same exact result. Codes outside [0, k)
/// are not counted (the indices come from the argmin, which only writes valid codes; the CPU twin checks them).
/// CPU twin: src/NativeVq.Runtime/Cpu/Codebook.cs (CpuCodebook.CountCodes). Tests: CodeCountParityTests; bench: the
/// gpu check's vqvae_train stage (copies_per_step).
/// </summary>
public static class CodeCountKernels
{
    public static void CountCodes(Index1D i, ArrayView<int> indices, ArrayView<float> counts, int k)
    {
        int c = indices[i];
        if (c >= 0 && c < k) Atomic.Add(ref counts[c], 1f);
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<int>, ArrayView<float>, int>? _countCodes;

    protected override void CountCodesCore(Tensor indices, Tensor counts, int k)
    {
        if (indices.Numel == 0) return;
        _countCodes ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<float>, int>(CodeCountKernels.CountCodes);
        _countCodes(indices.Numel, I(indices), F(counts), k);
    }
}
