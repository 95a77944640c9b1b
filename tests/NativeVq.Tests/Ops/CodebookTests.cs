using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class CodebookTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Fact]
    public void VectorQuantizerMatchesGolden()
    {
        var gc = new GoldenCase("vector_quantizer");
        using var scope = new TensorScope();
        var ze = gc.Load(Cpu, "z_e", requiresGrad: true);
        var cb = gc.Load(Cpu, "codebook", requiresGrad: true);
        float beta = (float)gc.Params.GetProperty("beta").GetDouble();
        var vq = F.VectorQuantize(ze, cb, beta);
        gc.AssertClose("indices", vq.Indices);
        gc.AssertClose("z_q", vq.Zq);
        gc.AssertClose("z_q_st", vq.ZqSt);
        gc.AssertClose("loss", vq.Loss);

        var total = F.Add(F.Sum(F.Mul(vq.ZqSt, gc.Load(Cpu, "upstream:z_q_st"))), F.Mul(vq.Loss, gc.Load(Cpu, "upstream:loss")));
        total.Backward();
        gc.AssertGrad("z_e", ze);
        gc.AssertGrad("codebook", cb);
    }

    [Fact]
    public void DuplicatedCodebookRowNeverWins()
    {
        var gc = new GoldenCase("vector_quantizer");
        var idx = F.NearestCode(gc.Load(Cpu, "z_e"), gc.Load(Cpu, "codebook")).ToIntArray();
        Assert.Contains(1, idx);
        Assert.DoesNotContain(4, idx);
    }

    [Fact]
    public void StraightThroughSendsNoGradientToTheCodebook()
    {
        var (ze, cb) = SeparatedProblem(31, 2, 3, 5, 7, 6);
        ze.RequiresGrad = cb.RequiresGrad = true;
        var vq = F.VectorQuantize(ze, cb);
        F.Sum(vq.ZqSt).Backward();
        Assert.True(cb.Grad is null || cb.Grad.ToArray().All(v => v == 0f));
        Assert.All(ze.Grad!.ToArray(), v => Assert.Equal(1f, v));
    }

    /// <summary>
    /// Codes far apart (spread over [-3, 3]) and latents within ±0.3 of one of them, so a ±1e-2 nudge never
    /// changes an argmin and the loss is smooth where the finite differences probe it.
    /// </summary>
    private static (Tensor Ze, Tensor Cb) SeparatedProblem(int seed, int n, int d, int h, int w, int k)
    {
        var rng = new Random(seed);
        var cb = new float[k * d];
        for (int a = 0; a < k; a++)
            for (bool ok = false; !ok;)
            {
                for (int c = 0; c < d; c++) cb[a * d + c] = (float)(rng.NextDouble() * 6 - 3);
                ok = true;
                for (int b = 0; b < a && ok; b++)
                {
                    double s = 0;
                    for (int c = 0; c < d; c++) s += Math.Pow(cb[a * d + c] - cb[b * d + c], 2);
                    ok = s > 1.5;
                }
            }
        var ze = new float[n * d * h * w];
        int hw = h * w;
        for (int img = 0; img < n; img++)
            for (int p = 0; p < hw; p++)
            {
                int code = rng.Next(k);
                for (int c = 0; c < d; c++) ze[(img * d + c) * hw + p] = cb[code * d + c] + (float)(rng.NextDouble() * 0.6 - 0.3);
            }
        var t1 = Tensor.FromArray(Cpu, ze, n, d, h, w);
        var t2 = Tensor.FromArray(Cpu, cb, k, d);
        return (t1, t2);
    }

    [Theory]
    [InlineData(1, 3, 5, 7, 6)]
    [InlineData(2, 4, 3, 3, 5)]
    public void VqLossGradientsMatchFiniteDifferences(int n, int d, int h, int w, int k)
    {
        var (ze, cb) = SeparatedProblem(40 + d, n, d, h, w, k);
        GradCheck.Check(t => F.VectorQuantize(t[0], t[1]).Loss, [ze, cb], h: 1e-2);
        GradCheck.Check(t => F.VectorQuantize(t[0], t[1], 0.7f).Loss, [ze, cb], h: 1e-2);
    }

    [Fact]
    public void GatherGradientMatchesFiniteDifferences()
    {
        var cb = GradCheck.Random(Cpu, 51, 6, 5);
        var rng = new Random(52);
        var idx = Tensor.FromArray(Cpu, Enumerable.Range(0, 3 * 7 * 5).Select(_ => rng.Next(6)).ToArray(), 3, 7, 5);
        GradCheck.Check(t => F.GatherCodes(t[0], idx), [cb]);
        var y = F.GatherCodes(cb, idx);
        Assert.Equal(new[] { 3, 5, 7, 5 }, y.Shape);
    }

    [Theory]
    [InlineData(1, 64, 37, 512, 1)]    // hw not a multiple of the SIMD tile
    [InlineData(3, 5, 33, 13, 2)]      // K not a multiple of the code block
    [InlineData(2, 1, 1, 3, 3)]
    [InlineData(2, 8, 100, 7, 4)]
    public void NearestCodeMatchesBruteForce(int n, int d, int hw, int k, int seed)
    {
        var z = GradCheck.Random(Cpu, seed, n, d, hw).ToArray();
        var cbData = GradCheck.Random(Cpu, seed + 100, k, d).ToArray();
        if (k > 2) Array.Copy(cbData, 0, cbData, (k - 1) * d, d); // last row duplicates row 0
        var idx = F.NearestCode(Tensor.FromArray(Cpu, z, n, d, hw), Tensor.FromArray(Cpu, cbData, k, d)).ToIntArray();
        Assert.Equal(new[] { n, hw }.Aggregate(1, (a, b) => a * b), idx.Length);
        for (int img = 0; img < n; img++)
            for (int p = 0; p < hw; p++)
            {
                double Dist(int code)
                {
                    double s = 0;
                    for (int c = 0; c < d; c++) s += Math.Pow(z[(img * d + c) * hw + p] - cbData[code * d + c], 2);
                    return s;
                }
                int got = idx[img * hw + p];
                Assert.InRange(got, 0, k - 1);
                if (k > 2) Assert.NotEqual(k - 1, got); // the duplicate of row 0 loses every tie
                double best = Enumerable.Range(0, k).Min(Dist);
                Assert.True(Dist(got) - best < 1e-4, $"position {img},{p}: code {got} at {Dist(got)}, best {best}");
            }
    }

    [Fact]
    public void OneHotEncodesAndRejectsBadCodes()
    {
        var idx = Tensor.FromArray(Cpu, new[] { 0, 2, 1, 2, 0, 0 }, 2, 1, 3);
        var y = F.OneHot(idx, 3);
        Assert.Equal(new[] { 2, 3, 1, 3 }, y.Shape);
        var v = y.ToArray();
        for (int img = 0; img < 2; img++)
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < 3; p++)
                    Assert.Equal(idx.ToIntArray()[img * 3 + p] == c ? 1f : 0f, v[(img * 3 + c) * 3 + p]);
        var bad = Tensor.FromArray(Cpu, new[] { 0, 1, 3, 0 }, 1, 2, 2);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => F.OneHot(bad, 3));
        Assert.Contains("code 3", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => F.GatherCodes(GradCheck.Random(Cpu, 1, 3, 2), bad));
        Assert.Throws<ArgumentOutOfRangeException>(() => F.OneHot(Tensor.FromArray(Cpu, new[] { -1 }, 1, 1), 3));
    }
}
