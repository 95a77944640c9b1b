namespace NativeVq.Anomaly.Volumes;

/// <summary>
/// The MOOD smoothing in 3D: a cubic min-pool then a cubic average-pool over a stack of slice maps, stride 1, the
/// window clipped at the borders (size preserved). Both pools are separable for box windows — the min over a box is
/// the min of per-axis mins, and the clipped average is the product of per-axis clipped averages — so each runs as
/// three 1D passes.
/// </summary>
public static class VolumeSmoothing
{
    /// <summary>Smooths <paramref name="stack"/> [depth·rows·cols] (depth = slices) into a new array.</summary>
    public static float[] Smooth(float[] stack, int depth, int rows, int cols, int minPool, int avgPool)
    {
        if (stack.Length != depth * rows * cols) throw new ArgumentException($"{stack.Length} values for {depth}x{rows}x{cols}");
        var m = stack;
        if (minPool > 1) m = Pass3(m, depth, rows, cols, minPool, min: true);
        if (avgPool > 1) m = Pass3(m, depth, rows, cols, avgPool, min: false);
        return m;
    }

    private static float[] Pass3(float[] src, int d, int h, int w, int window, bool min)
    {
        var a = new float[src.Length];
        for (int z = 0; z < d; z++)
            for (int y = 0; y < h; y++) Line(src, a, (z * h + y) * w, 1, w, window, min);        // along columns
        var b = new float[src.Length];
        for (int z = 0; z < d; z++)
            for (int x = 0; x < w; x++) Line(a, b, z * h * w + x, w, h, window, min);            // along rows
        var c = new float[src.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) Line(b, c, y * w + x, h * w, d, window, min);            // across slices
        return c;
    }

    /// <summary>1D pool of the line of <paramref name="length"/> elements at start + i·stride.</summary>
    private static void Line(float[] src, float[] dst, int start, int stride, int length, int window, bool min)
    {
        int r = window / 2;
        for (int i = 0; i < length; i++)
        {
            int lo = Math.Max(0, i - r), hi = Math.Min(length - 1, i + r);
            float acc = min ? float.PositiveInfinity : 0f;
            for (int j = lo; j <= hi; j++)
            {
                float v = src[start + j * stride];
                acc = min ? Math.Min(acc, v) : acc + v;
            }
            dst[start + i * stride] = min ? acc : acc / (hi - lo + 1);
        }
    }
}
