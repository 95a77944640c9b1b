namespace NativeVq.Anomaly.Baselines;

/// <summary>
/// Six statistics per pixel of the grey image (channels averaged) over a square window, the features of the
/// local-statistics Gaussian baseline: value, local mean, local standard deviation, and the local means of
/// |∂x|, |∂y| (central differences) and |Laplacian| (4-neighbour). Windows are clipped at the border.
/// </summary>
public static class LocalStats
{
    public const int Features = 6;

    /// <summary>Window side for an image size: about a sixteenth of the side on each side of the pixel (5 at 32 px, 9 at 64 px).</summary>
    public static int WindowFor(int size) => 2 * Math.Max(1, (int)Math.Round(size / 16.0)) + 1;

    /// <summary>Features of one CHW image as [Features · size · size] (feature-major).</summary>
    public static float[] Compute(ReadOnlySpan<float> chw, int channels, int size, int window)
    {
        int hw = size * size;
        var g = new float[hw];
        for (int c = 0; c < channels; c++)
            for (int p = 0; p < hw; p++) g[p] += chw[c * hw + p] / channels;
        var sq = new float[hw];
        var dx = new float[hw];
        var dy = new float[hw];
        var lap = new float[hw];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int p = y * size + x;
                float l = x > 0 ? g[p - 1] : g[p], r = x + 1 < size ? g[p + 1] : g[p];
                float u = y > 0 ? g[p - size] : g[p], d = y + 1 < size ? g[p + size] : g[p];
                sq[p] = g[p] * g[p];
                dx[p] = Math.Abs(r - l) / 2;
                dy[p] = Math.Abs(d - u) / 2;
                lap[p] = Math.Abs(l + r + u + d - 4 * g[p]);
            }
        var mean = BoxMean(g, size, window);
        var meanSq = BoxMean(sq, size, window);
        var f = new float[Features * hw];
        g.CopyTo(f, 0);
        mean.CopyTo(f, hw);
        for (int p = 0; p < hw; p++) f[2 * hw + p] = MathF.Sqrt(Math.Max(0f, meanSq[p] - mean[p] * mean[p]));
        BoxMean(dx, size, window).CopyTo(f, 3 * hw);
        BoxMean(dy, size, window).CopyTo(f, 4 * hw);
        BoxMean(lap, size, window).CopyTo(f, 5 * hw);
        return f;
    }

    /// <summary>Separable box mean, window clipped at the border (each output divides by the pixels it covered).</summary>
    public static float[] BoxMean(float[] src, int size, int window)
    {
        int r = window / 2;
        var rows = new float[src.Length];
        var dst = new float[src.Length];
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                int x0 = Math.Max(0, x - r), x1 = Math.Min(size - 1, x + r);
                float s = 0;
                for (int xx = x0; xx <= x1; xx++) s += src[y * size + xx];
                rows[y * size + x] = s / (x1 - x0 + 1);
            }
        for (int y = 0; y < size; y++)
        {
            int y0 = Math.Max(0, y - r), y1 = Math.Min(size - 1, y + r);
            for (int x = 0; x < size; x++)
            {
                float s = 0;
                for (int yy = y0; yy <= y1; yy++) s += rows[yy * size + x];
                dst[y * size + x] = s / (y1 - y0 + 1);
            }
        }
        return dst;
    }
}
