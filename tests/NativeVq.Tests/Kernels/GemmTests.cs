using NativeVq.Cpu;

namespace NativeVq.Tests.Kernels;

/// <summary>The packed cpu SGEMM against a naive double-precision reference.</summary>
public sealed class GemmTests
{
    private static float[] Rand(Random rng, int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    /// <summary>C = alpha·op(A)·op(B) + beta·C in double (beta = 0 ignores C, as the spec says).</summary>
    private static double[] Reference(in GemmSpec s, float[] a, float[] b, float[] c)
    {
        var r = new double[c.Length];
        for (int i = 0; i < c.Length; i++) r[i] = c[i];
        for (int bi = 0; bi < s.Batch; bi++)
        {
            int ao = bi * s.StrideA, bo = bi * s.StrideB, co = bi * s.StrideC;
            for (int i = 0; i < s.M; i++)
                for (int j = 0; j < s.N; j++)
                {
                    double acc = 0;
                    for (int k = 0; k < s.K; k++)
                    {
                        double av = s.TransA ? a[ao + k * s.M + i] : a[ao + i * s.K + k];
                        double bv = s.TransB ? b[bo + j * s.K + k] : b[bo + k * s.N + j];
                        acc += av * bv;
                    }
                    int ci = co + i * s.N + j;
                    r[ci] = s.Alpha * acc + (s.Beta == 0f ? 0.0 : s.Beta * (double)c[ci]);
                }
        }
        return r;
    }

    private static void Check(GemmSpec s, int seed, bool nanC = false, bool parallel = true)
    {
        var rng = new Random(seed);
        int sa = Math.Max(s.StrideA, s.M * s.K), sb = Math.Max(s.StrideB, s.K * s.N), sc = Math.Max(s.StrideC, s.M * s.N);
        var a = Rand(rng, (s.Batch - 1) * s.StrideA + s.M * s.K);
        var b = Rand(rng, (s.Batch - 1) * s.StrideB + s.K * s.N);
        var c = Rand(rng, (s.Batch - 1) * s.StrideC + s.M * s.N);
        if (nanC) Array.Fill(c, float.NaN);
        var expected = Reference(s, a, b, nanC ? new float[c.Length] : c);
        if (nanC)
        {
            // Elements of C that no batch item covers (stride gaps) keep their garbage.
            var covered = new bool[c.Length];
            for (int bi = 0; bi < s.Batch; bi++) for (int i = 0; i < s.M * s.N; i++) covered[bi * s.StrideC + i] = true;
            for (int i = 0; i < c.Length; i++) if (!covered[i]) expected[i] = double.NaN;
        }
        var got = (float[])c.Clone();
        CpuGemm.Sgemm(s, a, b, got, parallel);
        double tol = 1e-5 * Math.Max(1, s.K) * Math.Max(1f, Math.Abs(s.Alpha)) + 1e-5;
        for (int i = 0; i < got.Length; i++)
        {
            if (double.IsNaN(expected[i])) { Assert.True(float.IsNaN(got[i]), $"{s}: element {i} should be untouched"); continue; }
            Assert.False(float.IsNaN(got[i]), $"{s}: NaN at {i}");
            Assert.True(Math.Abs(got[i] - expected[i]) <= tol, $"{s}: element {i} = {got[i]}, expected {expected[i]}");
        }
    }

    public static IEnumerable<object[]> Shapes()
    {
        int[][] mnk =
        [
            [1, 1, 1], [1, 7, 3], [5, 1, 4], [3, 3, 1], [2, 33, 1], [8, 32, 5], [9, 33, 17], [13, 17, 19],
            [31, 47, 29], [64, 64, 16], [97, 61, 257], [127, 131, 300], [200, 33, 513], [7, 300, 64], [300, 7, 67],
            [257, 263, 41], [129, 1030, 13],
            // one tall C on all threads with B packed once and shared (SharedB): narrow 16×16 tiles; two NC blocks
            [600, 16, 520], [1100, 1040, 9],
        ];
        foreach (var s in mnk)
            foreach (var ta in new[] { false, true })
                foreach (var tb in new[] { false, true })
                    yield return [ta, tb, s[0], s[1], s[2]];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesReference(bool ta, bool tb, int m, int n, int k)
    {
        Check(new GemmSpec(ta, tb, m, n, k), 1);
        Check(new GemmSpec(ta, tb, m, n, k, 0.75f, -0.5f), 2);
        Check(new GemmSpec(ta, tb, m, n, k, -1.5f, 1f), 3, parallel: false);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(9, 33, 300)]
    [InlineData(150, 70, 260)]
    public void BetaZeroIgnoresNaNInC(int m, int n, int k)
    {
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
                Check(new GemmSpec(ta, tb, m, n, k, 0.5f, 0f), 4, nanC: true);
        Check(new GemmSpec(false, false, m, n, k, 1f, 0f, 3, m * k + 5, k * n + 3, m * n + 7), 5, nanC: true);
    }

    [Theory]
    [InlineData(false, false, 256, 64, 64, 16)]
    [InlineData(true, false, 5, 13, 7, 11)]
    [InlineData(false, true, 3, 130, 40, 70)]
    [InlineData(true, true, 17, 1, 9, 1)]
    [InlineData(false, false, 2, 300, 200, 100)]
    public void BatchedWithStrides(bool ta, bool tb, int batch, int m, int n, int k)
    {
        Check(new GemmSpec(ta, tb, m, n, k, 1f, 0f, batch, m * k, k * n, m * n), 6);
        Check(new GemmSpec(ta, tb, m, n, k, 0.3f, 2f, batch, m * k + 3, k * n + 1, m * n + 2), 7);
        Check(new GemmSpec(ta, tb, m, n, k, 1f, 0f, batch, m * k, 0, m * n), 8); // shared B
    }

    [Fact]
    public void ZeroKScalesC()
    {
        Check(new GemmSpec(false, false, 5, 6, 0, 1f, 0f), 9, nanC: true);
        Check(new GemmSpec(false, false, 5, 6, 0, 1f, 0.5f), 10);
    }

    [Fact]
    public void DeterministicAcrossRunsAndThreading()
    {
        var rng = new Random(11);
        foreach (var s in new[]
        {
            new GemmSpec(false, false, 517, 389, 700, 0.9f, 0.25f),
            new GemmSpec(true, true, 64, 1024, 576),
            new GemmSpec(false, true, 64, 64, 16, 1f, 0f, 64, 64 * 16, 16 * 64, 64 * 64),
            new GemmSpec(true, true, 1100, 1040, 300, 1f, 0.5f),   // shared packed B, two NC and two KC blocks
            new GemmSpec(false, true, 600, 16, 520),               // shared packed B, 16×16 tiles
        })
        {
            var a = Rand(rng, s.Batch * s.M * s.K);
            var b = Rand(rng, s.Batch * s.K * s.N);
            var c0 = Rand(rng, s.Batch * s.M * s.N);
            var first = (float[])c0.Clone();
            CpuGemm.Sgemm(s, a, b, first);
            for (int rep = 0; rep < 3; rep++)
            {
                var again = (float[])c0.Clone();
                CpuGemm.Sgemm(s, a, b, again, parallel: rep != 1);
                Assert.Equal(first, again);
            }
        }
    }

    [Fact]
    public void BackendGemmUsesPackedKernel()
    {
        var be = CpuBackend.Instance;
        var s = new GemmSpec(false, true, 37, 45, 29, 1f, 0f);
        var rng = new Random(12);
        var a = Rand(rng, 37 * 29); var b = Rand(rng, 45 * 29);
        var c = Tensor.Empty(be, 37, 45);
        be.Gemm(s, Tensor.FromArray(be, a, 37, 29), Tensor.FromArray(be, b, 45, 29), c);
        var expected = Reference(s, a, b, new float[37 * 45]);
        var got = c.ToArray();
        for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - expected[i]) < 1e-4);
    }

    [Fact]
    public void SteadyStateAllocatesAlmostNothing()
    {
        var s = new GemmSpec(false, false, 64, 64, 16, 1f, 0f, 256, 64 * 16, 16 * 64, 64 * 64);
        var a = new float[256 * 64 * 16]; var b = new float[256 * 16 * 64]; var c = new float[256 * 64 * 64];
        CpuGemm.Sgemm(s, a, b, c, parallel: false);
        long before = GC.GetAllocatedBytesForCurrentThread();
        CpuGemm.Sgemm(s, a, b, c, parallel: false);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1024);
    }
}
