using NativeVq.Cpu;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The GEMM's K split (threads share out the KC blocks; later blocks' raw sums added to C in block order) against the
/// serial blocked loop, bit for bit, and against float64; and which calls the plan sends to it.
/// </summary>
public sealed class GemmKSplitTests
{
    private static float[] Rand(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    /// <summary>(transA, transB, M, N, K): the VAE's two K = 1024 Linear GEMMs, edge tiles in M and N, K tails, narrow (16×16) tiles, B read in place (N = 32 or 16, not transposed).</summary>
    public static IEnumerable<object[]> Shapes()
    {
        int[][] mnk =
        [
            [64, 32, 1024], [37, 29, 1000], [70, 32, 513], [13, 5, 600], [64, 16, 777], [9, 33, 1300], [1, 1, 257],
            [200, 40, 512], [8, 1024, 768],
        ];
        foreach (var s in mnk)
            foreach (var ta in new[] { false, true })
                foreach (var tb in new[] { false, true })
                    yield return [ta, tb, s[0], s[1], s[2]];
    }

    /// <summary>β = 0 (C not read: NaN there must not leak), β = 1 (a gradient accumulating), and α, β ≠ 1.</summary>
    private static readonly (float Alpha, float Beta)[] Scalings = [(1f, 0f), (1f, 1f), (0.75f, -0.5f), (-1.5f, 1f)];

    [Theory]
    [MemberData(nameof(Shapes))]
    public void SameBitsAsSerialLoop(bool ta, bool tb, int m, int n, int k)
    {
        var rng = new Random(m * 31 + n * 7 + k);
        var a = Rand(rng, m * k);
        var b = Rand(rng, k * n);
        var c0 = Rand(rng, m * n);
        foreach (var (alpha, beta) in Scalings)
        {
            var s = new GemmSpec(ta, tb, m, n, k, alpha, beta);
            var start = (float[])c0.Clone();
            if (beta == 0f) Array.Fill(start, float.NaN);
            var expected = (float[])start.Clone();
            CpuGemm.SgemmBlocked(s, a, b, expected, parallel: false);
            Assert.DoesNotContain(expected, float.IsNaN);
            int blocks = (k + CpuGemm.KC - 1) / CpuGemm.KC;
            for (int parts = 2; parts <= Math.Min(4, blocks); parts++)
                foreach (bool inline in new[] { true, false })
                {
                    var got = (float[])start.Clone();
                    CpuGemm.SgemmKSplit(s, a, b, got, parts, inline);
                    AssertSameBits(expected, got, $"{s}, {parts} parts, inline {inline}");
                }
            var viaSgemm = (float[])start.Clone();
            CpuGemm.Sgemm(s, a, b, viaSgemm);
            AssertSameBits(expected, viaSgemm, $"{s} via Sgemm");
        }
    }

    [Fact]
    public void MatchesFloat64()
    {
        var rng = new Random(3);
        foreach (var (ta, tb, m, n, k) in new[] { (false, true, 64, 32, 1024), (false, false, 64, 32, 1024), (true, true, 37, 29, 1000) })
        {
            var s = new GemmSpec(ta, tb, m, n, k, 0.5f, 1f);
            var a = Rand(rng, m * k);
            var b = Rand(rng, k * n);
            var c = Rand(rng, m * n);
            var got = (float[])c.Clone();
            CpuGemm.SgemmKSplit(s, a, b, got, 2, inline: false);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double acc = 0;
                    for (int kk = 0; kk < k; kk++)
                        acc += (double)(ta ? a[kk * m + i] : a[i * k + kk]) * (tb ? b[j * k + kk] : b[kk * n + j]);
                    double want = 0.5 * acc + c[i * n + j];
                    // Same bound as GemmTests: float32 sums of k products of values in [-1, 1].
                    Assert.True(Math.Abs(got[i * n + j] - want) <= 1e-5 * k + 1e-5, $"{s}: ({i},{j}) = {got[i * n + j]}, expected {want}");
                }
        }
    }

    [Fact]
    public void RepeatedParallelCallsAgree()
    {
        var rng = new Random(4);
        var s = new GemmSpec(false, true, 64, 32, 1024, 1f, 1f);
        var a = Rand(rng, 64 * 1024);
        var b = Rand(rng, 32 * 1024);
        var c0 = Rand(rng, 64 * 32);
        var first = (float[])c0.Clone();
        CpuGemm.SgemmKSplit(s, a, b, first, 2, inline: false);
        for (int rep = 0; rep < 20; rep++)
        {
            var again = (float[])c0.Clone();
            CpuGemm.SgemmKSplit(s, a, b, again, 2, inline: false);
            AssertSameBits(first, again, $"repeat {rep}");
        }
    }

    /// <summary>
    /// On two threads the VAE's K = 1024 Linear GEMMs (heads forward, decoder input gradient) take the K split; the
    /// other four (K = 32 or 64: one KC block) and large GEMMs (where the slabs would cost as much as the packing saved) do not.
    /// </summary>
    [Fact]
    public void PlanPicksKSplitForSmallCAndLongK()
    {
        CpuGemm.GemmPath Path(GemmSpec s) => CpuGemm.PlanFor(s, parallel: true, kSplit: true, threads: 2).Path;
        Assert.Equal(new CpuGemm.GemmPlan(CpuGemm.GemmPath.KSplit, 2), CpuGemm.PlanFor(new GemmSpec(false, true, 64, 32, 1024), true, true, 2));
        Assert.Equal(CpuGemm.GemmPath.KSplit, Path(new GemmSpec(false, false, 64, 32, 1024, Beta: 1f)));
        Assert.Equal(CpuGemm.GemmPath.Parts, Path(new GemmSpec(true, false, 32, 1024, 64, Beta: 1f)));
        Assert.Equal(CpuGemm.GemmPath.Parts, Path(new GemmSpec(false, false, 64, 1024, 32, Beta: 1f)));
        Assert.Equal(CpuGemm.GemmPath.Parts, Path(new GemmSpec(false, true, 64, 1024, 32)));
        Assert.Equal(CpuGemm.GemmPath.Parts, Path(new GemmSpec(true, false, 1024, 32, 64, Beta: 1f)));
        Assert.NotEqual(CpuGemm.GemmPath.KSplit, Path(new GemmSpec(false, false, 128, 128, 1 << 20)));   // slabs: 2048 blocks × 16K floats
        Assert.Equal(CpuGemm.GemmPath.SharedB, Path(new GemmSpec(false, false, 512, 512, 512)));   // as before: C too large for slabs
        Assert.Equal(CpuGemm.GemmPath.Parts, CpuGemm.PlanFor(new GemmSpec(false, true, 64, 32, 1024), true, kSplit: false, threads: 2).Path);
        Assert.Equal(CpuGemm.GemmPath.Serial, CpuGemm.PlanFor(new GemmSpec(false, true, 64, 32, 1024), parallel: false, kSplit: true, threads: 2).Path);
        Assert.Equal(CpuGemm.GemmPath.Serial, CpuGemm.PlanFor(new GemmSpec(false, true, 64, 32, 1024), true, true, threads: 1).Path);
    }

    private static void AssertSameBits(float[] expected, float[] got, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(got[i]),
                $"{what}: element {i} = {got[i]}, serial loop {expected[i]}");
    }
}
