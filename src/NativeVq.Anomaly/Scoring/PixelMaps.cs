namespace NativeVq.Anomaly.Scoring;

/// <summary>Pixel anomaly maps from restorations (design.md §1.3) and the MOOD smoothing.</summary>
internal static class PixelMaps
{
    /// <summary>
    /// map = Σ_j φ_j · |ref − r_j| (averaged over channels), with φ = softmax_j(−c · mean|x − r_j|) — which
    /// down-weights restorations that drifted from the input — or φ_j = 1/S when <paramref name="softmax"/> is off.
    /// Images are CHW [channels · size · size]; the map is [size · size].
    /// </summary>
    public static float[] FromRestorations(float[] input, float[] reference, IReadOnlyList<float[]> restorations, int channels, int size, bool softmax, float c)
    {
        int hw = size * size;
        int s = restorations.Count;
        var weights = new double[s];
        for (int j = 0; j < s; j++)
        {
            double l1 = 0;
            for (int i = 0; i < input.Length; i++) l1 += Math.Abs(input[i] - restorations[j][i]);
            weights[j] = softmax ? -c * l1 / input.Length : 0;
        }
        double max = weights.Max(), sum = 0;
        for (int j = 0; j < s; j++) sum += weights[j] = Math.Exp(weights[j] - max);
        var map = new float[hw];
        for (int j = 0; j < s; j++)
        {
            float wj = (float)(weights[j] / sum / channels);
            var r = restorations[j];
            for (int ch = 0; ch < channels; ch++)
                for (int p = 0; p < hw; p++)
                    map[p] += wj * Math.Abs(reference[ch * hw + p] - r[ch * hw + p]);
        }
        return map;
    }

    /// <summary>Min-pool then average-pool, both stride 1 with the window clipped at the border (size preserved).</summary>
    public static float[] Smooth(float[] map, int size, int minPool, int avgPool)
    {
        var m = minPool > 1 ? Pool(map, size, minPool, min: true) : map;
        return avgPool > 1 ? Pool(m, size, avgPool, min: false) : m;
    }

    private static float[] Pool(float[] src, int size, int window, bool min)
    {
        int r = window / 2;
        var dst = new float[src.Length];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                float acc = min ? float.PositiveInfinity : 0f;
                int n = 0;
                for (int dy = -r; dy <= r; dy++)
                {
                    int yy = y + dy;
                    if ((uint)yy >= (uint)size) continue;
                    for (int dx = -r; dx <= r; dx++)
                    {
                        int xx = x + dx;
                        if ((uint)xx >= (uint)size) continue;
                        float v = src[yy * size + xx];
                        if (min) acc = Math.Min(acc, v); else acc += v;
                        n++;
                    }
                }
                dst[y * size + x] = min ? acc : acc / n;
            }
        return dst;
    }
}
