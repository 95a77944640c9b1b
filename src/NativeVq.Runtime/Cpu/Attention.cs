namespace NativeVq.Cpu;

/// <summary>
/// CPU twins of the fused attention kernels (kernels/NativeVq.Kernels/AttentionKernels.cs): the reference the ILGPU
/// kernels are checked against. The cpu model path itself keeps the two GEMMs and the row softmax
/// (<see cref="Backend.PrefersFusedAttention"/> is false here). Rows run in fixed chunks (deterministic).
/// </summary>
public static class CpuAttention
{
    private const int GrainPairs = 16 * 1024;

    /// <summary>See <see cref="Backend.FusedCausalAttention"/>: one query row at a time, its scores in a row buffer.</summary>
    public static void FusedCausalAttention(float[] q, float[] k, float[] v, float[] y, float[] lse, int batch, int n, int dh, int dvh, float scale, bool strict)
    {
        if (batch == 0 || n == 0) return;
        CpuParallel.For(batch * n, Math.Max(1, GrainPairs / Math.Max(1, n * (dh + dvh))), (start, end) =>
        {
            var sc = new float[n];
            for (int r = start; r < end; r++)
            {
                int b = r / n, s = r - b * n, len = strict ? s : s + 1;
                int qo = b * dh * n, vo = b * dvh * n;
                if (len == 0)
                {
                    lse[r] = float.NegativeInfinity;
                    for (int c = 0; c < dvh; c++) y[vo + c * n + s] = 0f;
                    continue;
                }
                float m = float.NegativeInfinity;
                for (int t = 0; t < len; t++)
                {
                    float dot = 0f;
                    for (int j = 0; j < dh; j++) dot += q[qo + j * n + s] * k[qo + j * n + t];
                    sc[t] = scale * dot;
                    m = MathF.Max(m, sc[t]);
                }
                float sum = 0f;
                for (int t = 0; t < len; t++)
                {
                    sc[t] = MathF.Exp(sc[t] - m);
                    sum += sc[t];
                }
                lse[r] = m + MathF.Log(sum);
                float inv = 1f / sum;
                for (int c = 0; c < dvh; c++)
                {
                    float acc = 0f;
                    int vr = vo + c * n;
                    for (int t = 0; t < len; t++) acc += sc[t] * v[vr + t];
                    y[vr + s] = acc * inv;
                }
            }
        });
    }

    /// <summary>See <see cref="Backend.MaskedSoftmaxFromLse"/>.</summary>
    public static void MaskedSoftmaxFromLse(float[] scores, float[] lse, float[] probs, int batch, int n, float scale, bool strict)
    {
        if (batch == 0 || n == 0) return;
        CpuParallel.For(batch * n, Math.Max(1, GrainPairs / n), (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                int s = r % n, len = strict ? s : s + 1;
                float l = lse[r];
                for (int t = 0; t < n; t++)
                    probs[r * n + t] = t < len && !float.IsNegativeInfinity(l) ? MathF.Exp(scale * scores[r * n + t] - l) : 0f;
            }
        });
    }
}

public sealed partial class CpuBackend
{
    protected override void FusedCausalAttentionCore(Tensor q, Tensor k, Tensor v, Tensor y, Tensor lse, int batch, int n, int dh, int dvh, float scale, bool strict)
        => CpuAttention.FusedCausalAttention(Array(q), Array(k), Array(v), Array(y), Array(lse), batch, n, dh, dvh, scale, strict);

    protected override void MaskedSoftmaxFromLseCore(Tensor scores, Tensor lse, Tensor probs, int batch, int n, float scale, bool strict)
        => CpuAttention.MaskedSoftmaxFromLse(Array(scores), Array(lse), Array(probs), batch, n, scale, strict);
}
