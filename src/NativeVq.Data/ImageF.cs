namespace NativeVq.Data;

/// <summary>
/// A float image in the project's convention: channel-major (CHW), values in [-1, 1], 1 (gray) or 3 (RGB)
/// channels. What the models consume and what <see cref="ImageIO.SavePng(string, ImageF)"/>, <see cref="ImageGrid"/>
/// and <see cref="HeatMap"/> produce.
/// </summary>
public sealed class ImageF
{
    public ImageF(int channels, int height, int width, float[]? data = null)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"an image has 1 or 3 channels, not {channels}");
        if (height <= 0 || width <= 0) throw new ArgumentException($"bad image size {width}x{height}");
        Channels = channels; Height = height; Width = width;
        Data = data ?? new float[channels * height * width];
        if (Data.Length != channels * height * width)
            throw new ArgumentException($"{Data.Length} values for a {channels}x{height}x{width} image");
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public float[] Data { get; }

    /// <summary>Image <paramref name="index"/> of a [B, C, H, W] batch (copied).</summary>
    public static ImageF FromBatch(ReadOnlySpan<float> batch, int index, int channels, int height, int width)
    {
        int n = channels * height * width;
        return new ImageF(channels, height, width, batch.Slice(index * n, n).ToArray());
    }

    /// <summary>The same image with 3 channels (gray replicated); returns itself when already RGB.</summary>
    public ImageF ToRgb()
    {
        if (Channels == 3) return this;
        var rgb = new ImageF(3, Height, Width);
        for (int c = 0; c < 3; c++) Data.CopyTo(rgb.Data, c * Data.Length);
        return rgb;
    }

    /// <summary>The same image with 1 channel (ITU-R 601 luma); returns itself when already gray.</summary>
    public ImageF ToGray()
    {
        if (Channels == 1) return this;
        int n = Height * Width;
        var g = new ImageF(1, Height, Width);
        for (int i = 0; i < n; i++) g.Data[i] = 0.299f * Data[i] + 0.587f * Data[n + i] + 0.114f * Data[2 * n + i];
        return g;
    }
}
