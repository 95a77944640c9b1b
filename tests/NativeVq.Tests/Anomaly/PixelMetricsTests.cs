using NativeVq.Anomaly.Metrics;

namespace NativeVq.Tests.Anomaly;

public sealed class PixelMetricsTests
{
    private static byte[] M(params int[] v) => v.Select(x => (byte)x).ToArray();

    [Fact]
    public void Components_use_8_connectivity()
    {
        var (lab, n) = ConnectedComponents.Label(M(1, 0, 0,
                                                   0, 1, 0,
                                                   0, 0, 1), 3, 3);
        Assert.Equal(1, n);
        Assert.Equal([1, 0, 0, 0, 1, 0, 0, 0, 1], lab);

        (lab, n) = ConnectedComponents.Label(M(1, 0, 1,
                                               0, 0, 0,
                                               1, 0, 1), 3, 3);
        Assert.Equal(4, n);
        Assert.Equal([1, 0, 2, 0, 0, 0, 3, 0, 4], lab);

        // A ring and a separate blob (numbered in raster order of first pixel).
        (lab, n) = ConnectedComponents.Label(M(1, 1, 1, 0, 0,
                                               1, 0, 1, 0, 1,
                                               1, 1, 1, 0, 1,
                                               0, 0, 0, 0, 0), 4, 5);
        Assert.Equal(2, n);
        Assert.Equal([1, 1, 1, 0, 0, 1, 0, 1, 0, 2, 1, 1, 1, 0, 2, 0, 0, 0, 0, 0], lab);
        // One pixel diagonal to both: everything joins (anti-diagonal too).
        (lab, n) = ConnectedComponents.Label(M(1, 1, 1, 0, 0,
                                               1, 0, 1, 0, 1,
                                               1, 1, 1, 0, 1,
                                               0, 0, 0, 1, 0), 4, 5);
        Assert.Equal(1, n);
        Assert.Equal(1, ConnectedComponents.Label(M(0, 1, 1, 0), 2, 2).Count);
        Assert.Equal(0, ConnectedComponents.Label(new byte[6], 2, 3).Count);
    }

    private static (float[][] Maps, byte[]?[] Masks) Random(int seed, int n, int h, int w, bool noise)
    {
        var rng = new Random(seed);
        var maps = new float[n][];
        var masks = new byte[]?[n];
        for (int i = 0; i < n; i++)
        {
            if (i % 3 == 0) masks[i] = null;
            else
            {
                var m = new byte[h * w];
                int blobs = rng.Next(1, 4);
                for (int b = 0; b < blobs; b++)
                {
                    int cy = rng.Next(h), cx = rng.Next(w), r = rng.Next(1, 3);
                    for (int y = Math.Max(0, cy - r); y < Math.Min(h, cy + r); y++)
                        for (int x = Math.Max(0, cx - r); x < Math.Min(w, cx + r); x++) m[y * w + x] = 1;
                }
                masks[i] = m;
            }
            maps[i] = new float[h * w];
            for (int p = 0; p < h * w; p++)
            {
                bool a = masks[i] is { } mm && mm[p] != 0;
                maps[i][p] = noise ? (float)rng.NextDouble() : (float)Math.Round(rng.NextDouble() + (a ? 0.6 : 0), 1);
            }
        }
        return (maps, masks);
    }

    [Fact]
    public void Pixel_auroc_and_f1_equal_the_image_routines_on_flattened_data()
    {
        var (maps, masks) = Random(5, 12, 16, 20, noise: false);
        var flat = maps.SelectMany(m => m).ToArray();
        var labels = masks.SelectMany(m => m ?? new byte[16 * 20]).Select(b => b != 0).ToArray();
        Assert.Equal(ImageLevel.Auroc(flat, labels), PixelLevel.Auroc(maps, masks, 16, 20), 12);
        var (pm, roc, _) = PixelLevel.Evaluate(maps, masks, 16, 20);
        var (f1, t) = ImageLevel.F1Max(flat, labels);
        Assert.Equal(ImageLevel.Auroc(flat, labels), pm.Auroc, 12);
        Assert.Equal(f1, pm.F1Max, 12);
        Assert.Equal(t, pm.F1Threshold);
        Assert.Equal(flat.Length, pm.Pixels);
        Assert.Equal(labels.Count(b => b), pm.AnomalousPixels);
        Assert.Equal(1.0, roc.Fpr[^1]);
    }

    [Fact]
    public void Aupro_of_a_perfect_map_is_one()
    {
        var (_, masks) = Random(6, 9, 12, 12, noise: false);
        var maps = masks.Select(m => (m ?? new byte[144]).Select(b => (float)b).ToArray()).ToArray();
        Assert.Equal(1.0, PixelLevel.Aupro(maps, masks, 12, 12), 12);
        Assert.Equal(1.0, PixelLevel.Auroc(maps, masks, 12, 12), 12);
    }

    [Fact]
    public void Aupro_of_noise_is_low()
    {
        var (maps, masks) = Random(7, 30, 32, 32, noise: true);
        double a = PixelLevel.Aupro(maps, masks, 32, 32);
        Assert.InRange(a, 0.05, 0.3); // expectation 0.15 (PRO ≈ FPR)
        Assert.True(a < 0.5);
    }

    [Fact]
    public void Aupro_two_regions_by_hand()
    {
        // Image 0: region A (2 px, top-left) and region B (4 px, bottom-right) + 10 normal pixels; image 1 all normal.
        byte[] mask = M(1, 1, 0, 0,
                        0, 0, 0, 0,
                        0, 0, 1, 1,
                        0, 0, 1, 1);
        float[] map0 = [0.9f, 0.3f, 0.1f, 0.1f,
                        0.1f, 0.5f, 0.1f, 0.1f,
                        0.1f, 0.1f, 0.8f, 0.8f,
                        0.1f, 0.1f, 0.2f, 0.2f];
        var map1 = new float[16];
        map1[3] = 0.85f; map1[9] = 0.4f;
        float[][] maps = [map0, map1];
        byte[]?[] masks = [mask, null];

        var c = PixelLevel.ProCurve(maps, masks, 4, 4);
        double u = 1 / 26.0;
        // thresholds 0.9, 0.85, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0
        double[] fpr = [0, 0, u, u, 2 * u, 3 * u, 3 * u, 3 * u, 12 * u, 1];
        double[] pro = [0, 0.25, 0.25, 0.5, 0.5, 0.5, 0.75, 1, 1, 1];
        Assert.Equal(fpr.Length, c.Fpr.Length);
        for (int i = 0; i < fpr.Length; i++) { Assert.Equal(fpr[i], c.Fpr[i], 12); Assert.Equal(pro[i], c.Pro[i], 12); }

        double area = (0.25 + 0.5 + 0.5) * u + (0.3 - 3 * u) * 1.0; // last segment cut at FPR 0.3
        Assert.Equal(area / 0.3, PixelLevel.Aupro(maps, masks, 4, 4), 12);
        Assert.Equal(2, PixelLevel.Evaluate(maps, masks, 4, 4).Metrics.Regions);
    }

    /// <summary>Direct PRO/FPR at one threshold, regions from the component labels.</summary>
    private static (double Fpr, double Pro) Direct(float[][] maps, byte[]?[] masks, int h, int w, float t)
    {
        long fp = 0, neg = 0; double sum = 0; int regions = 0;
        for (int i = 0; i < maps.Length; i++)
        {
            var m = masks[i] ?? new byte[h * w];
            var (lab, n) = ConnectedComponents.Label(m, h, w);
            for (int r = 1; r <= n; r++)
            {
                int size = 0, hit = 0;
                for (int p = 0; p < h * w; p++) if (lab[p] == r) { size++; if (maps[i][p] >= t) hit++; }
                sum += (double)hit / size; regions++;
            }
            for (int p = 0; p < h * w; p++) if (m[p] == 0) { neg++; if (maps[i][p] >= t) fp++; }
        }
        return ((double)fp / neg, sum / regions);
    }

    [Fact]
    public void Pro_curve_matches_direct_computation_and_trapezoid()
    {
        var (maps, masks) = Random(8, 10, 10, 12, noise: false);
        var c = PixelLevel.ProCurve(maps, masks, 10, 12);
        var thresholds = maps.SelectMany(m => m).Distinct().OrderDescending().ToArray();
        Assert.Equal(thresholds.Length + 1, c.Fpr.Length);
        for (int k = 0; k < thresholds.Length; k++)
        {
            var (f, p) = Direct(maps, masks, 10, 12, thresholds[k]);
            Assert.Equal(f, c.Fpr[k + 1], 12);
            Assert.Equal(p, c.Pro[k + 1], 10);
        }
        // Trapezoid up to 0.3 with the endpoint interpolated, as MVTec's trapezoid(x_max=0.3).
        double area = 0;
        for (int k = 1; k < c.Fpr.Length; k++)
        {
            double x0 = c.Fpr[k - 1], x1 = c.Fpr[k], y0 = c.Pro[k - 1], y1 = c.Pro[k];
            if (x1 <= 0.3) { area += (x1 - x0) * (y0 + y1) / 2; continue; }
            double yl = y0 + (y1 - y0) * (0.3 - x0) / (x1 - x0);
            area += (0.3 - x0) * (y0 + yl) / 2;
            break;
        }
        Assert.Equal(area / 0.3, PixelLevel.Aupro(maps, masks, 10, 12), 10);
        var (pm, _, _) = PixelLevel.Evaluate(maps, masks, 10, 12, curvePoints: 7);
        Assert.Equal(area / 0.3, pm.Aupro, 10); // thinning the plotted curve does not change the metric
    }

    [Fact]
    public void Large_pixel_pool_is_handled()
    {
        // 40 images of 256x256 = 2.6M pixels; kept moderate for shared test machines.
        int n = 40, hw = 256 * 256;
        var rng = new Random(9);
        var maps = new float[n][]; var masks = new byte[]?[n];
        for (int i = 0; i < n; i++)
        {
            maps[i] = new float[hw];
            var m = i % 2 == 0 ? null : new byte[hw];
            for (int p = 0; p < hw; p++)
            {
                bool a = m is not null && (p / 256) is > 100 and < 140 && (p % 256) is > 50 and < 90;
                if (a) m![p] = 1;
                maps[i][p] = (float)rng.NextDouble() + (a ? 0.5f : 0f);
            }
            masks[i] = m;
        }
        var (pm, _, _) = PixelLevel.Evaluate(maps, masks, 256, 256);
        // Uniform U(0,1) vs U(0.5,1.5): AUROC = 1 - 0.5·0.5·0.5 = 0.875.
        Assert.InRange(pm.Auroc, 0.87, 0.88);
        Assert.Equal(20, pm.Regions);
    }
}
