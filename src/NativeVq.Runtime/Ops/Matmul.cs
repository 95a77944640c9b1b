namespace NativeVq;

public static partial class F
{
    /// <summary>Matrix product of [M,K] and [K,N] (or batched [B,M,K]·[B,K,N]).</summary>
    public static Tensor Matmul(Tensor a, Tensor b)
    {
        RequireSameBackend("matmul", a, b);
        bool batched = a.Rank == 3;
        if (!(a.Rank == b.Rank && (a.Rank == 2 || a.Rank == 3)) || a.Dim(-1) != b.Dim(-2) || (batched && a.Dim(0) != b.Dim(0)))
            throw new ArgumentException($"matmul: shapes {ShapeUtil.Format(a.Shape)} and {ShapeUtil.Format(b.Shape)} do not chain");
        int batch = batched ? a.Dim(0) : 1, m = a.Dim(-2), k = a.Dim(-1), n = b.Dim(-1);
        var y = Tensor.Empty(a.Backend, batched ? [batch, m, n] : [m, n]);
        var be = a.Backend;
        be.Gemm(new GemmSpec(false, false, m, n, k, Batch: batch, StrideA: m * k, StrideB: k * n, StrideC: m * n), a, b, y);
        Autograd.Record("matmul", y, [a, b], g =>
        {
            // dA = dY·Bᵀ, dB = Aᵀ·dY, accumulated (beta 1).
            if (a.RequiresGrad)
                be.Gemm(new GemmSpec(false, true, m, k, n, Beta: 1f, Batch: batch, StrideA: m * n, StrideB: k * n, StrideC: m * k), g, b, a.GradOrZeros());
            if (b.RequiresGrad)
                be.Gemm(new GemmSpec(true, false, k, n, m, Beta: 1f, Batch: batch, StrideA: m * k, StrideB: m * n, StrideC: k * n), a, g, b.GradOrZeros());
        });
        return y;
    }
}
