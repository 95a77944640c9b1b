using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class ShapeTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    [InlineData(1, 2, 5, 7, 2, 0, 1, 3)]   // asymmetric, batch 1, odd sizes
    [InlineData(2, 3, 4, 3, 0, 3, 2, 0)]
    [InlineData(2, 1, 6, 5, -1, 2, 1, -2)] // negative pad crops (torch semantics)
    public void Pad2dGradientMatchesFiniteDifferences(int n, int c, int h, int w, int l, int r, int t, int b)
    {
        var x = GradCheck.Random(Cpu, 31, n, c, h, w);
        GradCheck.Check(ts => F.Tanh(F.Pad2d(ts[0], l, r, t, b)), [x]);
    }

    [Fact]
    public void Pad2dMatchesNaiveDefinition()
    {
        int n = 2, c = 3, h = 4, w = 5, l = 2, r = 1, t = 0, b = 3;
        var xs = GradCheck.Random(Cpu, 32, n, c, h, w);
        var x = xs.ToArray();
        var y = F.Pad2d(xs, l, r, t, b);
        Assert.Equal(new[] { n, c, h + t + b, w + l + r }, y.Shape);
        var ya = y.ToArray();
        int ho = h + t + b, wo = w + l + r;
        for (int p = 0; p < n * c; p++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                {
                    int si = i - t, sj = j - l;
                    float e = si >= 0 && si < h && sj >= 0 && sj < w ? x[(p * h + si) * w + sj] : 0f;
                    Assert.Equal(e, ya[(p * ho + i) * wo + j]);
                }
    }

    [Fact]
    public void CropGradientAndValues()
    {
        var x = GradCheck.Random(Cpu, 33, 2, 3, 7, 6);
        GradCheck.Check(ts => F.Tanh(F.Crop(ts[0], 1, 2, 5, 3)), [x]);
        var xa = x.ToArray();
        var y = F.Crop(x, 2, 1, 3, 4).ToArray();
        for (int p = 0; p < 6; p++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 4; j++)
                    Assert.Equal(xa[(p * 7 + i + 2) * 6 + j + 1], y[(p * 3 + i) * 4 + j]);
    }

    [Fact]
    public void ShiftGradientsMatchFiniteDifferences()
    {
        var x = GradCheck.Random(Cpu, 34, 1, 3, 5, 7);
        GradCheck.Check(ts => F.Tanh(F.DownShift(ts[0])), [x]);
        GradCheck.Check(ts => F.Tanh(F.RightShift(ts[0])), [x]);
        var x2 = GradCheck.Random(Cpu, 35, 2, 2, 4, 3);
        GradCheck.Check(ts => F.Mul(F.DownShift(ts[0]), F.RightShift(ts[0])), [x2]);
    }

    [Fact]
    public void DownShiftZeroesRowZeroAndMovesRowsDown()
    {
        int n = 2, c = 3, h = 5, w = 4;
        var x = GradCheck.Random(Cpu, 36, n, c, h, w);
        var xa = x.ToArray();
        var y = F.DownShift(x);
        Assert.Equal(x.Shape, y.Shape);
        var ya = y.ToArray();
        for (int p = 0; p < n * c; p++)
            for (int j = 0; j < w; j++)
            {
                Assert.Equal(0f, ya[(p * h) * w + j]);
                for (int i = 1; i < h; i++) Assert.Equal(xa[(p * h + i - 1) * w + j], ya[(p * h + i) * w + j]);
            }
    }

    [Fact]
    public void RightShiftZeroesColumnZeroAndMovesColumnsRight()
    {
        int n = 2, c = 3, h = 5, w = 4;
        var x = GradCheck.Random(Cpu, 37, n, c, h, w);
        var xa = x.ToArray();
        var y = F.RightShift(x);
        Assert.Equal(x.Shape, y.Shape);
        var ya = y.ToArray();
        for (int p = 0; p < n * c; p++)
            for (int i = 0; i < h; i++)
            {
                Assert.Equal(0f, ya[(p * h + i) * w]);
                for (int j = 1; j < w; j++) Assert.Equal(xa[(p * h + i) * w + j - 1], ya[(p * h + i) * w + j]);
            }
    }

    [Fact]
    public void ConcatOfThreeGradientsAndValues()
    {
        var a = GradCheck.Random(Cpu, 38, 2, 1, 3, 5);
        var b = GradCheck.Random(Cpu, 39, 2, 4, 3, 5);
        var c = GradCheck.Random(Cpu, 40, 2, 2, 3, 5);
        GradCheck.Check(ts => F.Tanh(F.Concat(ts[0], ts[1], ts[2])), [a, b, c]);
        // The same tensor twice: both gradient contributions must add up.
        GradCheck.Check(ts => F.Tanh(F.Concat(ts[0], ts[1], ts[0])), [a, b]);

        var y = F.Concat(a, b, c);
        Assert.Equal(new[] { 2, 7, 3, 5 }, y.Shape);
        var ya = y.ToArray();
        var parts = new[] { a.ToArray(), b.ToArray(), c.ToArray() };
        int[] cs = [1, 4, 2];
        for (int n = 0, k = 0; n < 2; n++)
            for (int t = 0; t < 3; t++)
                for (int q = 0; q < cs[t] * 15; q++, k++)
                    Assert.Equal(parts[t][n * cs[t] * 15 + q], ya[k]);
    }

    [Fact]
    public void SliceChannelsGradientAndValues()
    {
        var x = GradCheck.Random(Cpu, 41, 3, 5, 2, 3);
        GradCheck.Check(ts => F.Tanh(F.SliceChannels(ts[0], 1, 3)), [x]);
        var xa = x.ToArray();
        var y = F.SliceChannels(x, 2, 2).ToArray();
        for (int n = 0; n < 3; n++)
            for (int q = 0; q < 12; q++)
                Assert.Equal(xa[n * 30 + 12 + q], y[n * 12 + q]);
        // Slicing both halves and concatenating them back is the identity.
        var back = F.Concat(F.SliceChannels(x, 0, 2), F.SliceChannels(x, 2, 3));
        Assert.Equal(xa, back.ToArray());
    }

    [Fact]
    public void LargeTensorsTakeTheParallelPathsUnchanged()
    {
        // Big enough for CpuParallel chunking (> 32K elements per call); checked against the naive definition.
        var x = GradCheck.Random(Cpu, 42, 3, 16, 33, 65);
        var xa = x.ToArray();
        var y = F.Pad2d(x, 1, 2, 3, 0).ToArray();
        int ho = 36, wo = 68;
        for (int p = 0; p < 48; p++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                {
                    int si = i - 3, sj = j - 1;
                    float e = si >= 0 && si < 33 && sj >= 0 && sj < 65 ? xa[(p * 33 + si) * 65 + sj] : 0f;
                    Assert.Equal(e, y[(p * ho + i) * wo + j]);
                }
        var s = F.SliceChannels(x, 5, 9).ToArray();
        for (int n = 0; n < 3; n++)
            for (int q = 0; q < 9 * 33 * 65; q++)
                Assert.Equal(xa[(n * 16 + 5) * 33 * 65 + q], s[n * 9 * 33 * 65 + q]);
    }
}
