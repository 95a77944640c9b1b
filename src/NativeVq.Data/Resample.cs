namespace NativeVq.Data;

/// <summary>
/// Geometry from a decoded image to a square model input. Bilinear resampling is separable with a triangle filter
/// whose support widens with the downscale factor (antialiased, like PIL's BILINEAR / torchvision antialias=True),
/// so a 1024-pixel MVTec image shrunk to 64 averages its pixels instead of aliasing. Pixel centres sit at i + 0.5
/// (align_corners = false); taps outside the source are dropped and the weights renormalised (edge replicate).
/// </summary>
internal static class Resample
{
    /// <summary>The source window that becomes the Size x Size output.</summary>
    public static (int X0, int Y0, int W, int H) Window(int width, int height, int size, ResizeMode mode) => mode switch
    {
        ResizeMode.Stretch => (0, 0, width, height),
        ResizeMode.CropResize => ((width - Math.Min(width, height)) / 2, (height - Math.Min(width, height)) / 2, Math.Min(width, height), Math.Min(width, height)),
        ResizeMode.CenterCrop => ((width - size) / 2, (height - size) / 2, size, size),
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    /// <summary>
    /// 8-bit HWC pixels → float CHW in [-1, 1] of side <paramref name="size"/>. <paramref name="nearest"/> picks the
    /// nearest source pixel instead of filtering (for 0/1 masks, which must stay binary).
    /// </summary>
    public static void ToChw(byte[] hwc, int width, int height, int channels, Span<float> dst, int size, ResizeMode mode, bool nearest)
    {
        var (x0, y0, ww, wh) = Window(width, height, size, mode);
        int n = size * size;
        if (mode == ResizeMode.CenterCrop || (ww == size && wh == size))
        {
            // Pure crop / pad: copy pixel for pixel, black (-1) outside the source.
            for (int c = 0; c < channels; c++)
                for (int oy = 0; oy < size; oy++)
                    for (int ox = 0; ox < size; ox++)
                    {
                        int sx = x0 + ox, sy = y0 + oy;
                        dst[c * n + oy * size + ox] = sx >= 0 && sx < width && sy >= 0 && sy < height
                            ? hwc[(sy * width + sx) * channels + c] * (2f / 255f) - 1f
                            : -1f;
                    }
            return;
        }
        if (nearest)
        {
            double sxs = (double)ww / size, sys = (double)wh / size;
            for (int oy = 0; oy < size; oy++)
            {
                int sy = Math.Clamp(y0 + (int)Math.Floor((oy + 0.5) * sys), 0, height - 1);
                for (int ox = 0; ox < size; ox++)
                {
                    int sx = Math.Clamp(x0 + (int)Math.Floor((ox + 0.5) * sxs), 0, width - 1);
                    for (int c = 0; c < channels; c++)
                        dst[c * n + oy * size + ox] = hwc[(sy * width + sx) * channels + c] * (2f / 255f) - 1f;
                }
            }
            return;
        }
        var (xs, xStart, xTaps) = Weights(x0, ww, width, size);
        var (ys, yStart, yTaps) = Weights(y0, wh, height, size);
        // Horizontal pass over the rows the vertical taps read: tmp[c][y][ox] (float, 0..255 scale).
        int yLo = yStart.Min(), yHi = Math.Min(height - 1, Enumerable.Range(0, size).Max(o => yStart[o] + yTaps - 1));
        int rows = yHi - yLo + 1;
        var tmp = new float[channels * rows * size];
        for (int y = yLo; y <= yHi; y++)
        {
            int rowBase = y * width * channels;
            for (int ox = 0; ox < size; ox++)
            {
                int s0 = xStart[ox];
                for (int c = 0; c < channels; c++)
                {
                    float acc = 0;
                    for (int t = 0; t < xTaps; t++)
                    {
                        float wgt = xs[ox * xTaps + t];
                        if (wgt != 0) acc += wgt * hwc[rowBase + (s0 + t) * channels + c];
                    }
                    tmp[(c * rows + (y - yLo)) * size + ox] = acc;
                }
            }
        }
        for (int c = 0; c < channels; c++)
            for (int oy = 0; oy < size; oy++)
            {
                int s0 = yStart[oy] - yLo;
                for (int ox = 0; ox < size; ox++)
                {
                    float acc = 0;
                    for (int t = 0; t < yTaps; t++)
                    {
                        float wgt = ys[oy * yTaps + t];
                        if (wgt != 0) acc += wgt * tmp[(c * rows + s0 + t) * size + ox];
                    }
                    dst[c * n + oy * size + ox] = Math.Clamp(acc * (2f / 255f) - 1f, -1f, 1f);
                }
            }
    }

    /// <summary>
    /// Per output index: the first source index and <c>taps</c> weights (zero-padded) of a triangle filter.
    /// Source window [origin, origin + extent) inside a line of <paramref name="length"/> pixels.
    /// </summary>
    internal static (float[] W, int[] Start, int Taps) Weights(int origin, int extent, int length, int size)
    {
        double scale = (double)extent / size;
        double support = Math.Max(scale, 1.0);
        int taps = (int)Math.Ceiling(support) * 2 + 1;
        var w = new float[size * taps];
        var start = new int[size];
        for (int o = 0; o < size; o++)
        {
            double centre = origin + (o + 0.5) * scale;
            int first = (int)Math.Floor(centre - support);
            double sum = 0;
            int lo = int.MaxValue, hi = int.MinValue;
            var tw = new double[taps];
            for (int t = 0; t < taps; t++)
            {
                int i = first + t;
                if (i < 0 || i >= length) continue;
                double d = Math.Abs((i + 0.5 - centre) / support);
                if (d >= 1) continue;
                tw[t] = 1 - d;
                sum += tw[t];
                lo = Math.Min(lo, i); hi = Math.Max(hi, i);
            }
            if (sum == 0)
            {
                // Degenerate (window outside the image): take the nearest edge pixel.
                int i = Math.Clamp((int)Math.Floor(centre), 0, length - 1);
                start[o] = Math.Min(i, Math.Max(0, length - taps));
                w[o * taps + (i - start[o])] = 1f;
                continue;
            }
            // Shift the window so it starts inside the image (the weights of out-of-range taps are zero).
            int s = Math.Clamp(first, 0, Math.Max(0, length - taps));
            if (length < taps) s = 0;
            start[o] = s;
            for (int t = 0; t < taps; t++)
            {
                if (tw[t] == 0) continue;
                int i = first + t;
                w[o * taps + (i - s)] = (float)(tw[t] / sum);
            }
        }
        // When the line is shorter than the tap count, a start of 0 with taps > length would read past the end:
        // callers read only taps with non-zero weight, all of which are in range.
        return (w, start, taps);
    }

    /// <summary>Bilinear (antialiased) resize of one float plane; used for heat maps over images of another size.</summary>
    public static float[] Plane(ReadOnlySpan<float> src, int width, int height, int outW, int outH)
    {
        var (xs, xStart, xTaps) = Weights(0, width, width, outW);
        var (ys, yStart, yTaps) = Weights(0, height, height, outH);
        var tmp = new float[height * outW];
        for (int y = 0; y < height; y++)
            for (int ox = 0; ox < outW; ox++)
            {
                float acc = 0;
                for (int t = 0; t < xTaps; t++) { float wgt = xs[ox * xTaps + t]; if (wgt != 0) acc += wgt * src[y * width + xStart[ox] + t]; }
                tmp[y * outW + ox] = acc;
            }
        var dst = new float[outH * outW];
        for (int oy = 0; oy < outH; oy++)
            for (int ox = 0; ox < outW; ox++)
            {
                float acc = 0;
                for (int t = 0; t < yTaps; t++) { float wgt = ys[oy * yTaps + t]; if (wgt != 0) acc += wgt * tmp[(yStart[oy] + t) * outW + ox]; }
                dst[oy * outW + ox] = acc;
            }
        return dst;
    }
}
