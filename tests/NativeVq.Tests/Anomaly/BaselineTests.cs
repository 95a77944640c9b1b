using NativeVq.Anomaly.Baselines;
using NativeVq.Cpu;
using NativeVq.Data;

namespace NativeVq.Tests.Anomaly;

public sealed class BaselineTests
{
    /// <summary>Images held in memory: smooth random-phase stripes, optionally with a planted square.</summary>
    private sealed class Images(float[][] images, int size) : IImageDataset
    {
        public int Count => images.Length;
        public int Channels => 1;
        public int Size => size;
        public void Load(int index, Span<float> chw) => images[index].CopyTo(chw);
        public string NameOf(int index) => $"mem:{index}";
        public int LabelOf(int index) => 0;
    }

    private static float[] Stripes(int size, Rng rng)
    {
        double phase = rng.NextDouble() * 6.28;
        var img = new float[size * size];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) img[y * size + x] = (float)(0.5 * Math.Sin(x * 0.8 + phase));
        return img;
    }

    private static float[] Plant(float[] img, int size, int y0, int x0, int side, float value)
    {
        var o = (float[])img.Clone();
        for (int y = y0; y < y0 + side; y++)
            for (int x = x0; x < x0 + side; x++) o[y * size + x] = value;
        return o;
    }

    [Fact]
    public void NearestPatchFindsAPlantedPatchAndScoresNormalsLow()
    {
        const int size = 24;
        var rng = new Rng(3);
        var train = new Images(Enumerable.Range(0, 20).Select(_ => Stripes(size, rng)).ToArray(), size);
        var model = NearestPatch.Fit(CpuBackend.Instance, train, Enumerable.Range(0, 20).ToArray(), seed: 1, maxPatches: 1000);
        Assert.Equal(1000, model.BankSize);   // a sample of the 20 · 81 patches
        var normal = Stripes(size, rng);
        var test = new Images([normal, Plant(normal, size, 12, 4, 5, 1f)], size);
        var (scores, maps) = model.ScoreAll(test, [0, 1]);
        Assert.True(scores[1] > 3 * scores[0], $"planted {scores[1]} vs normal {scores[0]}");
        // The hottest pixel of the map lies in (or touches) the planted square.
        int hot = Array.IndexOf(maps[1], maps[1].Max());
        Assert.InRange(hot / size, 12 - 4, 12 + 5 + 3);
        Assert.InRange(hot % size, 4 - 4, 4 + 5 + 3);
    }

    [Fact]
    public void NearestPatchDistanceIsExactForABankThatHoldsTheImage()
    {
        // An image whose every patch is in the bank scores 0 (the exact recomputation, not the GEMM's rounding).
        const int size = 8;
        var rng = new Rng(5);
        var img = Enumerable.Range(0, size * size).Select(_ => rng.NextFloat()).ToArray();
        var data = new Images([img], size);
        var model = NearestPatch.Fit(CpuBackend.Instance, data, [0], seed: 1);
        var (scores, maps) = model.ScoreAll(data, [0]);
        Assert.Equal(0f, scores[0]);
        Assert.All(maps[0], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void GaussianFlagsAnOutlierRegion()
    {
        const int size = 24;
        var rng = new Rng(7);
        var train = new Images(Enumerable.Range(0, 30).Select(_ => Stripes(size, rng)).ToArray(), size);
        var model = LocalStatsGaussian.Fit(train, Enumerable.Range(0, 30).ToArray());
        var normal = Stripes(size, rng);
        var (scores, maps) = model.ScoreAll(new Images([normal, Plant(normal, size, 4, 14, 4, -1f)], size), [0, 1]);
        Assert.True(scores[1] > 2 * scores[0], $"outlier {scores[1]} vs normal {scores[0]}");
        double inside = 0, outside = 0; int nIn = 0, nOut = 0;
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                bool isIn = y >= 4 && y < 8 && x >= 14 && x < 18;
                if (isIn) { inside += maps[1][y * size + x]; nIn++; }
                else if (Math.Abs(y - 6) > 6 || Math.Abs(x - 16) > 6) { outside += maps[1][y * size + x]; nOut++; }
            }
        Assert.True(inside / nIn > 3 * outside / nOut);
    }

    [Fact]
    public void LocalStatisticsOfAFlatImageAreItsValueAndZeros()
    {
        var img = Enumerable.Repeat(0.25f, 10 * 10).ToArray();
        var f = LocalStats.Compute(img, 1, 10, 5);
        for (int p = 0; p < 100; p++)
        {
            Assert.Equal(0.25f, f[p], 5);          // value
            Assert.Equal(0.25f, f[100 + p], 5);    // local mean
            for (int k = 2; k < 6; k++) Assert.Equal(0f, f[k * 100 + p], 4);
        }
        Assert.Equal(5, LocalStats.WindowFor(32));
        Assert.Equal(9, LocalStats.WindowFor(64));
    }
}
