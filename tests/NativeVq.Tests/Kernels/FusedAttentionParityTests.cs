using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The fused causal attention (one kernel per query block, online softmax, no N×N matrix) and the P-from-log-sum-exp
/// kernel of its backward: the CPU twin against a float64 reference written here (no PyTorch golden case exists for
/// the fused form), the ILGPU kernel on the CPU accelerator against the twin with blocks small enough that rows span
/// several key tiles, and F.CausalAttentionCore through the fused path (what cuda runs) against cpu, gradients included.
/// </summary>
[Collection("ilgpu")]
public sealed class FusedAttentionParityTests(IlgpuFixture ilgpu)
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    /// <summary>y [batch, dvh, n] and lse [batch, n] in float64 from the definition.</summary>
    private static (double[] Y, double[] Lse) Reference(float[] q, float[] k, float[] v, int batch, int n, int dh, int dvh, double scale, bool strict)
    {
        var y = new double[batch * dvh * n];
        var lse = new double[batch * n];
        for (int b = 0; b < batch; b++)
            for (int s = 0; s < n; s++)
            {
                int len = strict ? s : s + 1;
                if (len == 0) { lse[b * n + s] = double.NegativeInfinity; continue; }
                var sc = new double[len];
                for (int t = 0; t < len; t++)
                    for (int j = 0; j < dh; j++) sc[t] += scale * q[(b * dh + j) * n + s] * k[(b * dh + j) * n + t];
                double m = sc.Max(), sum = sc.Sum(x => Math.Exp(x - m));
                lse[b * n + s] = m + Math.Log(sum);
                for (int c = 0; c < dvh; c++)
                    for (int t = 0; t < len; t++) y[(b * dvh + c) * n + s] += Math.Exp(sc[t] - m) / sum * v[(b * dvh + c) * n + t];
            }
        return (y, lse);
    }

    private static void Close(double[] want, float[] got, double tol, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
        {
            if (double.IsNegativeInfinity(want[i])) { Assert.True(float.IsNegativeInfinity(got[i]), $"{what}[{i}] = {got[i]}, want -inf"); continue; }
            Assert.True(Math.Abs(want[i] - got[i]) <= tol * (1 + Math.Abs(want[i])), $"{what}[{i}] = {got[i]}, want {want[i]}");
        }
    }

    private static float[] Rand(int seed, int count) => GradCheck.Random(Cpu, seed, count).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CpuTwinMatchesFloat64Reference(bool strict)
    {
        int batch = 3, n = 11, dh = 5, dvh = 7;
        float scale = 0.6f;
        var q = Rand(1, batch * dh * n); var k = Rand(2, batch * dh * n); var v = Rand(3, batch * dvh * n);
        var y = new float[batch * dvh * n]; var lse = new float[batch * n];
        CpuAttention.FusedCausalAttention(q, k, v, y, lse, batch, n, dh, dvh, scale, strict);
        var (wy, wl) = Reference(q, k, v, batch, n, dh, dvh, scale, strict);
        Close(wy, y, 1e-5, "y");
        Close(wl, lse, 1e-5, "lse");
    }

    [Theory]
    [InlineData(23, 4, 6, 4, false)]   // 6 key tiles, a partial last block
    [InlineData(23, 4, 6, 4, true)]    // strict: row 0 has no key
    [InlineData(9, 3, 16, 16, false)]  // one block holds every query
    [InlineData(17, 7, 5, 3, true)]    // block 3: head sizes larger than the block
    public void KernelMatchesCpuTwin(int n, int dh, int dvh, int block, bool strict)
    {
        int batch = 2;
        float scale = 1f / MathF.Sqrt(dh);
        var q = Rand(4, batch * dh * n); var k = Rand(5, batch * dh * n); var v = Rand(6, batch * dvh * n);
        var be = ilgpu.Backend;
        using var scope = new TensorScope();
        var y = Tensor.Full(be, float.NaN, batch, dvh, n);
        var lse = Tensor.Full(be, float.NaN, batch, n);
        be.FusedCausalAttentionBlocks(Tensor.FromArray(be, q, batch, dh, n), Tensor.FromArray(be, k, batch, dh, n), Tensor.FromArray(be, v, batch, dvh, n),
            y, lse, batch, n, dh, dvh, scale, strict, block);
        var (wy, wl) = Reference(q, k, v, batch, n, dh, dvh, scale, strict);
        Close(wy, y.ToArray(), 1e-5, "y");
        Close(wl, lse.ToArray(), 1e-5, "lse");
        // And the twin agrees with the kernel on the same inputs.
        var cy = new float[y.Numel]; var cl = new float[lse.Numel];
        CpuAttention.FusedCausalAttention(q, k, v, cy, cl, batch, n, dh, dvh, scale, strict);
        Close(cy.Select(x => (double)x).ToArray(), y.ToArray(), 1e-5, "y vs twin");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SoftmaxFromLseMatchesCpu(bool strict)
    {
        int batch = 3, n = 7;
        var s = GradCheck.Random(Cpu, 7, batch, n, n);
        var p = Tensor.Empty(Cpu, batch, n, n);
        Cpu.MaskedSoftmaxRows(s, p, batch, n, 0.8f, strict);
        // lse of each row from the definition; the rebuilt P must equal the row softmax.
        var sa = s.ToArray();
        var lse = new float[batch * n];
        for (int r = 0; r < batch * n; r++)
        {
            int len = strict ? r % n : r % n + 1;
            lse[r] = len == 0 ? float.NegativeInfinity : (float)Math.Log(Enumerable.Range(0, len).Sum(t => Math.Exp(0.8 * sa[r * n + t])));
        }
        var lt = Tensor.FromArray(Cpu, lse, batch, n);
        Parity.Check(ilgpu.Backend, [s, lt], (be, t) =>
        {
            var pr = Tensor.Full(be, float.NaN, batch, n, n);
            be.MaskedSoftmaxFromLse(t[0], t[1], pr, batch, n, 0.8f, strict);
            return [pr];
        });
        var rebuilt = Tensor.Empty(Cpu, batch, n, n);
        Cpu.MaskedSoftmaxFromLse(s, lt, rebuilt, batch, n, 0.8f, strict);
        var want = p.ToArray(); var got = rebuilt.ToArray();
        for (int i = 0; i < want.Length; i++) Assert.True(Math.Abs(want[i] - got[i]) <= 1e-5, $"P[{i}] = {got[i]}, softmax {want[i]}");
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    public void AttentionThroughTheFusedPathMatchesCpuWithGradients(int heads, bool strict)
    {
        // What cuda does: F.CausalAttentionCore takes the fused forward and rebuilds P from the lse in the backward.
        int b = 2, dk = 4, dv = 6, n = 13;
        var q = GradCheck.Random(Cpu, 8, b, dk, n); var k = GradCheck.Random(Cpu, 9, b, dk, n); var v = GradCheck.Random(Cpu, 10, b, dv, n);
        var dy = GradCheck.Random(Cpu, 11, b, dv, n);
        foreach (var t in new[] { q, k, v }) t.RequiresGrad = true;
        ilgpu.Backend.UseFusedAttention = true;
        try
        {
            Assert.True(ilgpu.Backend.PrefersFusedAttention(dk / heads, dv / heads));
            Assert.False(Cpu.PrefersFusedAttention(dk / heads, dv / heads));
            Parity.Check(ilgpu.Backend, [q, k, v, dy], (be, t) =>
            {
                var y = F.CausalAttentionCore(t[0], t[1], t[2], heads, strict);
                F.Sum(F.Mul(y, t[3])).Backward();
                return [y, t[0].Grad!, t[1].Grad!, t[2].Grad!];
            });
        }
        finally { ilgpu.Backend.UseFusedAttention = false; }
    }
}
