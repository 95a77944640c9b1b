using NativeVq.Anomaly.Scoring;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Anomaly;

/// <summary>The knn image score's training features: distances, pooling of large grids, the stored file.</summary>
public sealed class FeatureBankTests
{
    private static float[][] RandomRows(int n, int dim, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, dim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).ToArray();
    }

    [Fact]
    public void NearestIsTheSmallestEuclideanDistanceInFloat64()
    {
        var rows = RandomRows(7, 37, 1);   // 37: not a multiple of the SIMD width, so the tail loop runs
        var bank = FeatureBank.FromRows(rows);
        foreach (var q in RandomRows(5, 37, 2))
        {
            double expected = rows.Min(r => Math.Sqrt(r.Zip(q, (a, b) => ((double)a - b) * ((double)a - b)).Sum()));
            Assert.Equal(expected, bank.Nearest(q), 4);
        }
        Assert.Equal(0, bank.Nearest(rows[3]), 6);   // a training image is at distance 0 from itself
        Assert.Throws<InvalidOperationException>(() => bank.Nearest(new float[36]));
    }

    [Fact]
    public void SmallGridsAreKeptAndLargeOnesAveragePooledToEightByEight()
    {
        // Two images, D = 2, 8x8: unchanged, rows in image order.
        var z8 = Enumerable.Range(0, 2 * 2 * 64).Select(i => (float)i).ToArray();
        var rows8 = FeatureBank.Rows(z8, 2, 8);
        Assert.Equal(z8.AsSpan(128, 128).ToArray(), rows8[1]);
        // One image, D = 1, 16x16 → 8x8 means of 2x2 cells.
        var z16 = Enumerable.Range(0, 256).Select(i => (float)i).ToArray();
        var rows16 = FeatureBank.Rows(z16, 1, 16);
        Assert.Equal(64, rows16[0].Length);
        Assert.Equal((0 + 1 + 16 + 17) / 4f, rows16[0][0]);
        Assert.Equal((14 + 15 + 30 + 31) / 4f, rows16[0][7]);
        Assert.Equal((238 + 239 + 254 + 255) / 4f, rows16[0][63]);
        Assert.Throws<InvalidOperationException>(() => FeatureBank.Rows(new float[100], 1, 8));
    }

    [Fact]
    public void TheFileRoundTripsAndIsIgnoredOnceTheVqVaeChanges()
    {
        var dir = Directory.CreateTempSubdirectory("nvq-bank").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, VqVaeTrainer.CheckpointName), [1, 2, 3]);
            var rows = RandomRows(4, 10, 3);
            FeatureBank.FromRows(rows, FeatureBank.VqVaeHashOf(dir)).Write(dir);
            var back = FeatureBank.Read(dir)!;
            Assert.Equal(4, back.Count);
            Assert.Equal(10, back.Dim);
            var q = RandomRows(1, 10, 4)[0];
            Assert.Equal(FeatureBank.FromRows(rows).Nearest(q), back.Nearest(q));
            Assert.False(File.Exists(Path.Combine(dir, FeatureBank.FileName + ".tmp")));

            // Truncated: a clear error naming the file, not garbage distances.
            var path = Path.Combine(dir, FeatureBank.FileName);
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..^8]);
            var e = Assert.Throws<UserError>(() => FeatureBank.Read(dir));
            Assert.Contains(FeatureBank.FileName, e.Message);

            // A retrained VQ-VAE: the bank belongs to the old encoder and is not used.
            File.WriteAllBytes(path, bytes);
            File.WriteAllBytes(Path.Combine(dir, VqVaeTrainer.CheckpointName), [9, 9]);
            Assert.Null(FeatureBank.Read(dir));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void KnnIsItsDefinitionAndNeedsTheBank()
    {
        var with = new ImageScoreFeatures(0, 0, 0, 0, 0, 0, null, 2.5);
        Assert.Equal(2.5, new ImageScorer("knn", 7).Score(with));
        Assert.True(new ImageScorer("complexity+knn", 7).NeedsBank);
        Assert.False(new ImageScorer("complexity", 7).NeedsBank);
        var without = Enumerable.Range(0, 4).Select(i => new ImageScoreFeatures(0, 0, 0, i, 100 + i, 0, null)).ToList();
        var e = Assert.Throws<UserError>(() => new ImageScorer("complexity+knn", 7).Calibrate(without));
        Assert.Contains(FeatureBank.FileName, e.Message);
        Assert.Equal("complexity+map-topk", ImageScoreDefaults.WithoutBank("complexity+knn+map-topk"));
    }
}
