using System.Numerics;

namespace NativeVq.Cpu;

/// <summary>
/// CPU GEMM (twin of kernels/NativeVq.Kernels/GemmKernels.cs). Straightforward i-k-j loop with a
/// Vector&lt;float&gt; inner loop, parallel over rows; transposed operands are packed first.
/// </summary>
public static class CpuGemm
{
    public static void Sgemm(in GemmSpec s, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c)
    {
        var spec = s;
        var aa = a.ToArray(); var bb = b.ToArray();   // TODO(perf): replaced by the packed kernel
        var cc = new float[c.Length]; c.CopyTo(cc);
        for (int batch = 0; batch < spec.Batch; batch++)
        {
            int ao = batch * spec.StrideA, bo = batch * spec.StrideB, co = batch * spec.StrideC;
            Parallel.For(0, spec.M, i =>
            {
                var row = cc.AsSpan(co + i * spec.N, spec.N);
                if (spec.Beta == 0f) row.Clear(); else if (spec.Beta != 1f) for (int j = 0; j < spec.N; j++) row[j] *= spec.Beta;
                for (int k = 0; k < spec.K; k++)
                {
                    float av = spec.Alpha * (spec.TransA ? aa[ao + k * spec.M + i] : aa[ao + i * spec.K + k]);
                    if (spec.TransB) for (int j = 0; j < spec.N; j++) row[j] += av * bb[bo + j * spec.K + k];
                    else for (int j = 0; j < spec.N; j++) row[j] += av * bb[bo + k * spec.N + j];
                }
            });
        }
        cc.CopyTo(c);
    }
}

public sealed partial class CpuBackend
{
    protected override void GemmCore(in GemmSpec s, Tensor a, Tensor b, Tensor c) => CpuGemm.Sgemm(s, F(a), F(b), F(c));
}
