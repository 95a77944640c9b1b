namespace NativeVq;

/// <summary>
/// Row-major (batched) GEMM: for every batch i, C_i = Alpha·op(A_i)·op(B_i) + Beta·C_i with op(A) M×K and
/// op(B) K×N. A_i starts at i·StrideA (B, C likewise); matrices are contiguous, so A is M×K (K×M when
/// TransA) with its natural leading dimension. Beta = 0 does not read C.
/// </summary>
public readonly record struct GemmSpec(
    bool TransA, bool TransB, int M, int N, int K,
    float Alpha = 1f, float Beta = 0f,
    int Batch = 1, int StrideA = 0, int StrideB = 0, int StrideC = 0)
{
    public double Flops => 2.0 * M * N * K * Batch;
}

public abstract partial class Backend
{
    public void Gemm(in GemmSpec s, Tensor a, Tensor b, Tensor c)
    {
        using var _ = Profiler.Kernel(this, "gemm", s.Flops, 4.0 * s.Batch * ((double)s.M * s.K + (double)s.K * s.N + (double)s.M * s.N), a, b, c);
        GemmCore(s, a, b, c);
    }

    protected abstract void GemmCore(in GemmSpec s, Tensor a, Tensor b, Tensor c);
}
