namespace NativeVq.Anomaly.Metrics;

/// <summary>
/// Connected components of a binary mask with 8-connectivity (diagonal neighbours join), as the MVTec AD
/// evaluation labels ground-truth regions (scipy.ndimage.label with a 3x3 structure of ones).
/// </summary>
internal static class ConnectedComponents
{
    /// <summary>
    /// Labels every nonzero pixel of <paramref name="mask"/> (row-major [height·width]) with its component number
    /// 1..count (0 = background), numbered in raster order of each component's first pixel. Iterative flood fill
    /// with an explicit stack: no recursion, no per-pixel objects.
    /// </summary>
    public static int Label(ReadOnlySpan<byte> mask, int height, int width, Span<int> labels)
    {
        if (mask.Length != height * width || labels.Length != mask.Length)
            throw new ArgumentException($"mask of {mask.Length} and labels of {labels.Length} values for a {height}x{width} image");
        labels.Clear();
        int count = 0;
        int[]? stack = null;
        for (int start = 0; start < mask.Length; start++)
        {
            if (mask[start] == 0 || labels[start] != 0) continue;
            stack ??= new int[mask.Length];
            int id = ++count, top = 0;
            labels[start] = id;
            stack[top++] = start;
            while (top > 0)
            {
                int p = stack[--top];
                int y = p / width, x = p - y * width;
                for (int dy = -1; dy <= 1; dy++)
                {
                    int yy = y + dy;
                    if ((uint)yy >= (uint)height) continue;
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int xx = x + dx;
                        if ((uint)xx >= (uint)width) continue;
                        int q = yy * width + xx;
                        if (mask[q] != 0 && labels[q] == 0) { labels[q] = id; stack[top++] = q; }
                    }
                }
            }
        }
        return count;
    }

    /// <summary>Convenience form returning the label array and the component count.</summary>
    public static (int[] Labels, int Count) Label(ReadOnlySpan<byte> mask, int height, int width)
    {
        var labels = new int[mask.Length];
        int n = Label(mask, height, width, labels);
        return (labels, n);
    }
}
