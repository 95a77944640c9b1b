namespace NativeVq.Anomaly.Metrics;

/// <summary>
/// Pixel-level metrics of anomaly maps against ground-truth masks.
/// <para>Inputs: <c>maps[i]</c> and <c>masks[i]</c> are row-major [height·width]; a mask pixel is anomalous when
/// nonzero; a null mask means "all normal" (MVTec's good test images have no mask file).</para>
/// <para>All pixels of all images form one pool (pixel AUROC and F1-max), ~10M pixels are fine: scores become
/// uint keys in two flat arrays (anomalous / normal) sorted by radix sort, then one merged sweep.</para>
/// <para>AUPRO follows the MVTec AD evaluation (Bergmann et al., pro_curve_util.compute_pro) EXACTLY, with the
/// exact sweep over every distinct threshold rather than a fixed threshold grid: each 8-connected ground-truth
/// component of each image is a region; at threshold t, PRO(t) = mean over all regions of the fraction of the
/// region's pixels with score ≥ t, FPR(t) = fraction of normal pixels (mask 0, over all images) with score ≥ t.
/// The curve, starting at (0, 0), is integrated with the trapezoid rule up to FPR = limit (default 0.3; the last
/// segment is linearly interpolated at the limit) and divided by the limit, so a perfect map scores 1 and a
/// random map about limit/2.</para>
/// </summary>
public static class PixelLevel
{
    public const double DefaultFprLimit = 0.3;

    /// <summary>Pixel AUROC, F1-max and AUPRO (+ thinned ROC and PRO curves for plotting).</summary>
    public static (PixelMetrics Metrics, RocCurve Roc, ProCurve Pro) Evaluate(
        IReadOnlyList<float[]> maps, IReadOnlyList<byte[]?> masks, int height, int width,
        double fprLimit = DefaultFprLimit, int curvePoints = 1000)
    {
        var g = Gather(maps, masks, height, width);
        SortKeys.Sort(g.Pos, g.PosRegion, g.Pos.Length);
        SortKeys.Sort(g.Neg, g.Neg.Length);
        var s = BinaryCurve.Summarize(g.Pos, g.Neg, curvePoints);
        var (aupro, pro) = ProSweep(g.Pos, g.PosRegion, g.Neg, g.RegionSize, fprLimit, curvePoints);
        var m = new PixelMetrics(s.Count, s.Positives, g.RegionSize.Length, s.Auroc, s.F1Max, s.F1Threshold, aupro, fprLimit);
        return (m, s.Roc!, pro);
    }

    /// <summary>AUROC over all pixels.</summary>
    public static double Auroc(IReadOnlyList<float[]> maps, IReadOnlyList<byte[]?> masks, int height, int width)
    {
        var g = Gather(maps, masks, height, width, regions: false);
        SortKeys.Sort(g.Pos, g.Pos.Length);
        SortKeys.Sort(g.Neg, g.Neg.Length);
        return BinaryCurve.Summarize(g.Pos, g.Neg, 1).Auroc;
    }

    /// <summary>Area under the PRO curve up to FPR <paramref name="fprLimit"/>, divided by it.</summary>
    public static double Aupro(IReadOnlyList<float[]> maps, IReadOnlyList<byte[]?> masks, int height, int width, double fprLimit = DefaultFprLimit)
    {
        var g = Gather(maps, masks, height, width);
        SortKeys.Sort(g.Pos, g.PosRegion, g.Pos.Length);
        SortKeys.Sort(g.Neg, g.Neg.Length);
        return ProSweep(g.Pos, g.PosRegion, g.Neg, g.RegionSize, fprLimit, 1).Aupro;
    }

    /// <summary>The full (unthinned) PRO curve, one point per distinct threshold after (0, 0). For tests and plots.</summary>
    public static ProCurve ProCurve(IReadOnlyList<float[]> maps, IReadOnlyList<byte[]?> masks, int height, int width)
    {
        var g = Gather(maps, masks, height, width);
        SortKeys.Sort(g.Pos, g.PosRegion, g.Pos.Length);
        SortKeys.Sort(g.Neg, g.Neg.Length);
        return ProSweep(g.Pos, g.PosRegion, g.Neg, g.RegionSize, DefaultFprLimit, 0).Curve;
    }

    private sealed record Gathered(uint[] Pos, int[] PosRegion, uint[] Neg, int[] RegionSize);

    private static Gathered Gather(IReadOnlyList<float[]> maps, IReadOnlyList<byte[]?> masks, int height, int width, bool regions = true)
    {
        if (maps.Count != masks.Count) throw new ArgumentException($"{maps.Count} maps but {masks.Count} masks");
        int hw = height * width;
        long pos = 0, total = 0;
        for (int i = 0; i < maps.Count; i++)
        {
            if (maps[i].Length != hw) throw new ArgumentException($"map {i} has {maps[i].Length} values, expected {height}x{width}");
            var m = masks[i];
            if (m is not null)
            {
                if (m.Length != hw) throw new ArgumentException($"mask {i} has {m.Length} values, expected {height}x{width}");
                foreach (var b in m) if (b != 0) pos++;
            }
            total += hw;
        }
        if (total > int.MaxValue) throw new ArgumentException($"{total} pixels is more than one pass can evaluate ({int.MaxValue})");
        var posKeys = new uint[pos];
        var posRegion = regions ? new int[pos] : [];
        var negKeys = new uint[total - pos];
        var sizes = new List<int>();
        var labels = regions ? new int[hw] : [];
        int a = 0, b2 = 0;
        for (int i = 0; i < maps.Count; i++)
        {
            var map = maps[i];
            var m = masks[i];
            int baseId = sizes.Count;
            if (regions && m is not null)
            {
                int n = ConnectedComponents.Label(m, height, width, labels);
                for (int r = 0; r < n; r++) sizes.Add(0);
                for (int p = 0; p < hw; p++) if (labels[p] != 0) sizes[baseId + labels[p] - 1]++;
            }
            for (int p = 0; p < hw; p++)
            {
                float s = map[p];
                if (float.IsNaN(s)) throw new ArgumentException($"map {i} pixel {p} is NaN");
                if (m is not null && m[p] != 0)
                {
                    if (regions) posRegion[a] = baseId + labels[p] - 1;
                    posKeys[a++] = SortKeys.Key(s);
                }
                else negKeys[b2++] = SortKeys.Key(s);
            }
        }
        return new Gathered(posKeys, posRegion, negKeys, [.. sizes]);
    }

    /// <summary>
    /// One descending sweep over distinct thresholds: FPR from the normal pixels, PRO = Σ_regions overlap / #regions
    /// (each anomalous pixel adds 1/|its region|). Integrates on the fly; keeps about <paramref name="points"/>
    /// curve points (≤ 0: all).
    /// </summary>
    private static (double Aupro, ProCurve Curve) ProSweep(uint[] pos, int[] region, uint[] neg, int[] regionSize, double limit, int points)
    {
        int K = regionSize.Length;
        long N = neg.Length;
        var inv = new double[K];
        for (int r = 0; r < K; r++) inv[r] = 1.0 / regionSize[r];
        var fprs = new List<double> { 0 };
        var pros = new List<double> { 0 };
        if (K == 0 || N == 0) return (double.NaN, new ProCurve([.. fprs], [.. pros]));
        int i = pos.Length - 1, j = neg.Length - 1;
        long fp = 0;
        double overlap = 0, x0 = 0, y0 = 0, area = 0, keptX = 0, keptY = 0;
        bool integrating = limit > 0;
        while (i >= 0 || j >= 0)
        {
            uint k = i < 0 ? neg[j] : j < 0 ? pos[i] : Math.Max(pos[i], neg[j]);
            while (i >= 0 && pos[i] == k) { overlap += inv[region[i]]; i--; }
            while (j >= 0 && neg[j] == k) { fp++; j--; }
            double x1 = (double)fp / N, y1 = Math.Min(overlap / K, 1.0);
            if (integrating)
            {
                if (x1 <= limit) area += (x1 - x0) * (y0 + y1) * 0.5;
                else
                {
                    double yl = y0 + (y1 - y0) * (limit - x0) / (x1 - x0);
                    area += (limit - x0) * (y0 + yl) * 0.5;
                    integrating = false;
                }
            }
            bool last = i < 0 && j < 0;
            if (points <= 0 || last || (x1 - keptX) * points >= 1 || (y1 - keptY) * points >= 1)
            {
                fprs.Add(x1); pros.Add(y1);
                keptX = x1; keptY = y1;
            }
            x0 = x1; y0 = y1;
        }
        // The curve always ends at (1, 1) (every pixel flagged), so a limit ≤ 1 is always reached.
        return (limit > 0 ? area / limit : double.NaN, new ProCurve([.. fprs], [.. pros]));
    }
}
