namespace NativeVq.Data;

public enum Colormap { Inferno, Jet }

/// <summary>
/// Colours a value map (anomaly scores, NLL per latent position) for humans: low = dark/blue, high = bright/red.
/// The range defaults to the map's own min..max; pass fixed bounds to compare maps across images.
/// </summary>
public static class HeatMap
{
    /// <summary>A [height, width] value map as an RGB image.</summary>
    public static ImageF Colorize(ReadOnlySpan<float> values, int height, int width, float? min = null, float? max = null, Colormap map = Colormap.Inferno)
    {
        if (values.Length != height * width) throw new ArgumentException($"{values.Length} values for a {height}x{width} map");
        var (lo, hi) = Range(values, min, max);
        int n = height * width;
        var img = new ImageF(3, height, width);
        for (int i = 0; i < n; i++)
        {
            var (r, g, b) = Color(Normalise(values[i], lo, hi), map);
            img.Data[i] = r * 2 - 1; img.Data[n + i] = g * 2 - 1; img.Data[2 * n + i] = b * 2 - 1;
        }
        return img;
    }

    /// <summary>
    /// Blends the coloured map over a grayscale version of <paramref name="background"/>; a map of another size is
    /// resampled (bilinear) to the background's size. <paramref name="alpha"/> is the weight of the colour.
    /// </summary>
    public static ImageF Overlay(ImageF background, ReadOnlySpan<float> values, int height, int width, float alpha = 0.5f,
        float? min = null, float? max = null, Colormap map = Colormap.Inferno)
    {
        if (values.Length != height * width) throw new ArgumentException($"{values.Length} values for a {height}x{width} map");
        var (lo, hi) = Range(values, min, max);
        var v = height == background.Height && width == background.Width
            ? values.ToArray()
            : Resample.Plane(values, width, height, background.Width, background.Height);
        var gray = background.ToGray();
        int n = background.Height * background.Width;
        var img = new ImageF(3, background.Height, background.Width);
        for (int i = 0; i < n; i++)
        {
            var (r, g, b) = Color(Normalise(v[i], lo, hi), map);
            float k = (gray.Data[i] + 1) * 0.5f * (1 - alpha);
            img.Data[i] = (k + alpha * r) * 2 - 1;
            img.Data[n + i] = (k + alpha * g) * 2 - 1;
            img.Data[2 * n + i] = (k + alpha * b) * 2 - 1;
        }
        return img;
    }

    private static (float Lo, float Hi) Range(ReadOnlySpan<float> values, float? min, float? max)
    {
        float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
        foreach (var x in values) if (float.IsFinite(x)) { lo = Math.Min(lo, x); hi = Math.Max(hi, x); }
        if (!float.IsFinite(lo)) { lo = 0; hi = 1; }
        return (min ?? lo, max ?? hi);
    }

    private static float Normalise(float x, float lo, float hi)
        => float.IsNaN(x) ? 0 : hi > lo ? Math.Clamp((x - lo) / (hi - lo), 0, 1) : 0;

    /// <summary>Colour of <paramref name="t"/> in [0, 1] as RGB in [0, 1].</summary>
    public static (float R, float G, float B) Color(float t, Colormap map)
    {
        t = Math.Clamp(t, 0, 1);
        if (map == Colormap.Jet)
        {
            static float Ramp(float x) => Math.Clamp(1.5f - Math.Abs(x), 0, 1);
            return (Ramp(4 * t - 3), Ramp(4 * t - 2), Ramp(4 * t - 1));
        }
        float p = t * (Inferno.Length - 1);
        int i = Math.Min((int)p, Inferno.Length - 2);
        float f = p - i;
        var (a, b) = (Inferno[i], Inferno[i + 1]);
        return (a.R + f * (b.R - a.R), a.G + f * (b.G - a.G), a.B + f * (b.B - a.B));
    }

    /// <summary>matplotlib's inferno sampled at 9 evenly spaced points (linear in between).</summary>
    private static readonly (float R, float G, float B)[] Inferno =
    [
        (0.001f, 0.000f, 0.014f), (0.087f, 0.045f, 0.225f), (0.258f, 0.039f, 0.406f),
        (0.416f, 0.090f, 0.433f), (0.578f, 0.148f, 0.404f), (0.735f, 0.216f, 0.330f),
        (0.865f, 0.317f, 0.226f), (0.954f, 0.469f, 0.101f), (0.988f, 0.998f, 0.645f),
    ];
}
