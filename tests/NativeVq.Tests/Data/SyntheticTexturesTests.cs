using NativeVq.Data;

namespace NativeVq.Tests.Data;

/// <summary>The demo's texture generator: the gravel kind and the MVTec-style export (issue 13's small texture sets).</summary>
public sealed class SyntheticTexturesTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-tex-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private static float[] Image(SyntheticTextures t, int i)
    {
        var img = new float[t.Size * t.Size];
        t.Load(i, img);
        return img;
    }

    [Fact]
    public void GravelIsDeterministicAndDiffersFromStripesAndBetweenImages()
    {
        var a = new SyntheticTextures(4, 32, 7, texture: "gravel");
        var b = new SyntheticTextures(4, 32, 7, texture: "gravel");
        Assert.Equal(Image(a, 1), Image(b, 1));
        Assert.NotEqual(Image(a, 1), Image(a, 2));
        Assert.NotEqual(Image(a, 1), Image(new SyntheticTextures(4, 32, 7), 1));
        Assert.All(Image(a, 0), v => Assert.InRange(v, -1f, 1f));
    }

    [Fact]
    public void GravelIsStochasticNotPeriodic()
    {
        // Stripes repeat with a period of ~6 px; gravel must not: its mean correlation with a copy shifted by
        // 8 px is near zero, while adjacent pixels inside pebbles stay correlated.
        static double Corr(float[] img, int s, int dx)
        {
            double sxy = 0, sx = 0, sy = 0, sxx = 0, syy = 0; int n = 0;
            for (int y = 0; y < s; y++)
                for (int x = 0; x + dx < s; x++)
                {
                    double u = img[y * s + x], v = img[y * s + x + dx];
                    sxy += u * v; sx += u; sy += v; sxx += u * u; syy += v * v; n++;
                }
            return (sxy / n - sx / n * (sy / n)) / Math.Sqrt((sxx / n - sx / n * (sx / n)) * (syy / n - sy / n * (sy / n)));
        }
        var g = new SyntheticTextures(8, 64, 3, texture: "gravel");
        double far = Enumerable.Range(0, 8).Average(i => Corr(Image(g, i), 64, 8));
        double near = Enumerable.Range(0, 8).Average(i => Corr(Image(g, i), 64, 1));
        Assert.InRange(far, -0.15, 0.15);
        Assert.True(near > 0.4, $"adjacent-pixel correlation {near}");
    }

    [Fact]
    public void GravelDefectsCarryTheirMasks()
    {
        var t = new SyntheticTextures(20, 32, 5, anomalyFraction: 0.5f, texture: "gravel");
        int defects = 0;
        for (int i = 0; i < t.Count; i++)
        {
            var mask = t.LoadMask(i);
            var img = Image(t, i);
            if (t.LabelOf(i) == 0) { Assert.All(mask, m => Assert.Equal(0f, m)); continue; }
            defects++;
            float want = t.DefectOf(i) == "scratch" ? 0.95f : -0.95f;
            Assert.Contains(1f, mask);
            for (int k = 0; k < mask.Length; k++) if (mask[k] == 1f) Assert.Equal(want, img[k]);
        }
        Assert.InRange(defects, 4, 16);
    }

    [Fact]
    public void UnknownTextureIsRefused()
    {
        var e = Assert.Throws<UserError>(() => SyntheticTextures.ParseKind("marble", "--texture"));
        Assert.Contains("--texture", e.Message);
        Assert.Contains("gravel", e.Message);
        Assert.Throws<ArgumentException>(() => new SyntheticTextures(2, 16, 1, texture: "marble"));
    }

    [Fact]
    public void ExportWritesAnMvtecCategoryThatReadsBackWithMasks()
    {
        var root = Path.Combine(_dir, "gravel");
        SyntheticCategory.Write(root, 6, 10, 32, 9, "gravel");
        Assert.True(MvtecDataset.IsCategory(root));
        var options = new ImageLoadOptions { Size = 32, Channels = 1 };
        var train = new MvtecDataset(root, MvtecSplit.Train, options);
        var test = new MvtecDataset(root, MvtecSplit.Test, options);
        Assert.Equal(6, train.Count);
        Assert.Equal(10, test.Count);
        var gen = new SyntheticTextures(10, 32, 9 + 1_000_003, anomalyFraction: 0.5f, texture: "gravel");
        var byName = Enumerable.Range(0, test.Count).ToDictionary(test.NameOf);
        for (int i = 0; i < gen.Count; i++)
        {
            int j = byName[$"test/{gen.DefectOf(i)}/{i:D5}.png"];
            var read = new float[32 * 32];
            test.Load(j, read);
            var want = Image(gen, i);
            for (int k = 0; k < read.Length; k++) Assert.Equal(want[k], read[k], 0.01f);   // 8-bit PNG: within one grey level
            if (gen.LabelOf(i) == 1) Assert.Equal(gen.LoadMask(i), test.LoadMask(j));
        }
        Assert.Empty(Directory.GetDirectories(_dir, "*.tmp-*"));
    }

    [Fact]
    public void ExportRefusesAFolderInUseAndBadCounts()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "used"));
        File.WriteAllText(Path.Combine(_dir, "used", "keep.txt"), "x");
        var e = Assert.Throws<UserError>(() => SyntheticCategory.Write(Path.Combine(_dir, "used"), 2, 2, 16, 1, "stripes"));
        Assert.Contains("--export", e.Message);
        Assert.True(File.Exists(Path.Combine(_dir, "used", "keep.txt")));
        Assert.Throws<UserError>(() => SyntheticCategory.Write(Path.Combine(_dir, "a"), 0, 2, 16, 1, "stripes"));
        Assert.Throws<UserError>(() => SyntheticCategory.Write(Path.Combine(_dir, "b"), 2, 2, 4, 1, "stripes"));
    }
}
