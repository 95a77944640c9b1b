namespace NativeVq.Data;

/// <summary>
/// Tiles images into one picture for inspection (inputs on one row, reconstructions on the next, heat maps
/// below...), with a border between cells. Gray cells are promoted to RGB when any cell is RGB; cells of
/// different sizes are centred in a cell as large as the largest image.
/// </summary>
public static class ImageGrid
{
    /// <summary>One row per list; <paramref name="borderValue"/> in [-1, 1] (default white).</summary>
    public static ImageF Compose(IReadOnlyList<IReadOnlyList<ImageF>> rows, int border = 2, float borderValue = 1f)
    {
        if (rows.Count == 0 || rows.All(r => r.Count == 0)) throw new ArgumentException("an image grid needs at least one image");
        var all = rows.SelectMany(r => r).ToList();
        int channels = all.Any(i => i.Channels == 3) ? 3 : 1;
        int cellH = all.Max(i => i.Height), cellW = all.Max(i => i.Width);
        int cols = rows.Max(r => r.Count);
        int outW = cols * cellW + (cols + 1) * border, outH = rows.Count * cellH + (rows.Count + 1) * border;
        var grid = new ImageF(channels, outH, outW);
        Array.Fill(grid.Data, borderValue);
        int n = outH * outW;
        for (int r = 0; r < rows.Count; r++)
            for (int k = 0; k < rows[r].Count; k++)
            {
                var img = channels == 3 ? rows[r][k].ToRgb() : rows[r][k];
                int top = border + r * (cellH + border) + (cellH - img.Height) / 2;
                int left = border + k * (cellW + border) + (cellW - img.Width) / 2;
                int m = img.Height * img.Width;
                for (int c = 0; c < channels; c++)
                    for (int y = 0; y < img.Height; y++)
                        img.Data.AsSpan(c * m + y * img.Width, img.Width).CopyTo(grid.Data.AsSpan(c * n + (top + y) * outW + left, img.Width));
            }
        return grid;
    }

    /// <summary>Lays <paramref name="images"/> out row-major in <paramref name="columns"/> columns.</summary>
    public static ImageF Tile(IReadOnlyList<ImageF> images, int columns, int border = 2, float borderValue = 1f)
    {
        if (columns <= 0) throw new ArgumentException("columns must be positive");
        var rows = images.Chunk(columns).Select(c => (IReadOnlyList<ImageF>)c).ToList();
        return Compose(rows, border, borderValue);
    }

    /// <summary>The first <paramref name="count"/> images of a [B, C, S, S] batch as one row each of inputs and reconstructions.</summary>
    public static ImageF Compare(ReadOnlySpan<float> inputs, ReadOnlySpan<float> reconstructions, int count, int channels, int size, int border = 2)
    {
        var top = new List<ImageF>(); var bottom = new List<ImageF>();
        for (int i = 0; i < count; i++)
        {
            top.Add(ImageF.FromBatch(inputs, i, channels, size, size));
            bottom.Add(ImageF.FromBatch(reconstructions, i, channels, size, size));
        }
        return Compose([top, bottom], border);
    }

    public static void Save(string path, IReadOnlyList<IReadOnlyList<ImageF>> rows, int border = 2, float borderValue = 1f)
        => ImageIO.SavePng(path, Compose(rows, border, borderValue));
}
