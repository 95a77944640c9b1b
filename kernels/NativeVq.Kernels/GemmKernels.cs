using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Batched row-major GEMM, one thread per output element of C (batch · M · N threads).
/// CPU twin: src/NativeVq.Runtime/Cpu/Gemm.cs.
/// </summary>
public static class GemmKernels
{
    /// <summary><see cref="GemmSpec"/> as kernel arguments (ILGPU needs blittable fields: no bool).</summary>
    public readonly record struct Args(int TransA, int TransB, int M, int N, int K, float Alpha, float Beta, int StrideA, int StrideB, int StrideC)
    {
        public Args(in GemmSpec s) : this(s.TransA ? 1 : 0, s.TransB ? 1 : 0, s.M, s.N, s.K, s.Alpha, s.Beta, s.StrideA, s.StrideB, s.StrideC) { }
    }

    public static void Gemm(Index1D index, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, Args s)
    {
        int mn = s.M * s.N;
        int batch = index / mn, r = index - batch * mn, i = r / s.N, j = r - i * s.N;
        int ao = batch * s.StrideA, bo = batch * s.StrideB;
        float acc = 0f;
        for (int k = 0; k < s.K; k++)
        {
            float av = s.TransA != 0 ? a[ao + k * s.M + i] : a[ao + i * s.K + k];
            float bv = s.TransB != 0 ? b[bo + j * s.K + k] : b[bo + k * s.N + j];
            acc += av * bv;
        }
        int ci = batch * s.StrideC + r;
        c[ci] = s.Beta == 0f ? s.Alpha * acc : s.Alpha * acc + s.Beta * c[ci];
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmKernels.Args>? _gemm;

    protected override void GemmCore(in GemmSpec s, Tensor a, Tensor b, Tensor c)
    {
        int n = s.Batch * s.M * s.N;
        if (n == 0) return;
        _gemm ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmKernels.Args>(GemmKernels.Gemm);
        _gemm(n, F(a), F(b), F(c), new GemmKernels.Args(s));
    }
}
