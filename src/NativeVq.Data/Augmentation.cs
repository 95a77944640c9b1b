namespace NativeVq.Data;

/// <summary>
/// Which label-preserving transforms may be applied to a training image. Flips and 90° rotations are right for
/// textures (a rotated brick wall is still a normal brick wall) and wrong for digits (a mirrored 2 is not a 2), so
/// the default depends on the data: <see cref="ForFormat"/>.
/// </summary>
public sealed record AugmentOptions(bool Flips, bool Rotations, int MaxShift)
{
    public static readonly AugmentOptions None = new(false, false, 0);

    public bool IsNone => !Flips && !Rotations && MaxShift == 0;

    /// <summary>
    /// Default per data format: IDX digits get small shifts only (size/16 px: 2 px at 32); image folders and
    /// MVTec categories (textures, parts seen from above) get flips, 90° rotations and shifts.
    /// </summary>
    public static AugmentOptions ForFormat(string format, int size) =>
        format == "idx" ? new(false, false, Math.Max(1, size / 16)) : new(true, true, Math.Max(1, size / 16));

    /// <summary>Parses "none" or a comma list of flip, rot90, shiftN (e.g. "flip,rot90,shift4").</summary>
    public static AugmentOptions Parse(string text, string option = "--augment")
    {
        if (text == "none") return None;
        bool flips = false, rot = false;
        int shift = 0;
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "flip") flips = true;
            else if (part == "rot90") rot = true;
            else if (part.StartsWith("shift", StringComparison.Ordinal) && int.TryParse(part.AsSpan(5), out int s) && s >= 0) shift = s;
            else throw new UserError($"{option}: expected auto, none or a comma list of flip, rot90, shiftN (N pixels), got '{part}' in '{text}'");
        }
        return new AugmentOptions(flips, rot, shift);
    }

    public override string ToString() => IsNone ? "none" :
        string.Join(",", new[] { Flips ? "flip" : null, Rotations ? "rot90" : null, MaxShift > 0 ? $"shift{MaxShift}" : null }.Where(s => s is not null));
}

/// <summary>Geometric transforms of CHW images of size s×s (square, as every dataset here delivers them).</summary>
public static class ImageTransforms
{
    /// <summary>Mirror left–right: dst[c, y, x] = src[c, y, s−1−x].</summary>
    public static void FlipHorizontal(ReadOnlySpan<float> src, Span<float> dst, int channels, int s) =>
        Map(src, dst, channels, s, (y, x) => (y, s - 1 - x));

    /// <summary>Mirror top–bottom: dst[c, y, x] = src[c, s−1−y, x].</summary>
    public static void FlipVertical(ReadOnlySpan<float> src, Span<float> dst, int channels, int s) =>
        Map(src, dst, channels, s, (y, x) => (s - 1 - y, x));

    /// <summary>Rotate by 90° counter-clockwise (as numpy.rot90): dst[c, y, x] = src[c, x, s−1−y].</summary>
    public static void Rotate90(ReadOnlySpan<float> src, Span<float> dst, int channels, int s) =>
        Map(src, dst, channels, s, (y, x) => (x, s - 1 - y));

    /// <summary>
    /// Translate by (dx, dy) pixels (content moves right/down for positive values); the uncovered border is
    /// filled by mirroring the image at its edge (reflect without repeating the edge pixel), so no artificial
    /// constant band appears that the model would have to learn as normal.
    /// </summary>
    public static void Shift(ReadOnlySpan<float> src, Span<float> dst, int channels, int s, int dx, int dy)
    {
        if (Math.Abs(dx) >= s || Math.Abs(dy) >= s) throw new ArgumentOutOfRangeException(nameof(dx), $"shift ({dx}, {dy}) must be smaller than the image side {s}");
        Map(src, dst, channels, s, (y, x) => (Reflect(y - dy, s), Reflect(x - dx, s)));
    }

    private static int Reflect(int i, int s) => s == 1 ? 0 : i < 0 ? -i : i >= s ? 2 * (s - 1) - i : i;

    private static void Map(ReadOnlySpan<float> src, Span<float> dst, int channels, int s, Func<int, int, (int Y, int X)> from)
    {
        if (src.Length != channels * s * s || dst.Length != src.Length) throw new ArgumentException($"expected {channels}x{s}x{s} images, got {src.Length} and {dst.Length} values");
        if (src.Overlaps(dst)) throw new ArgumentException("source and destination must not overlap");
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++)
            {
                var (sy, sx) = from(y, x);
                for (int c = 0; c < channels; c++) dst[(c * s + y) * s + x] = src[(c * s + sy) * s + sx];
            }
    }

    /// <summary>
    /// One random draw of the allowed transforms, in place: a horizontal flip (p = ½), a rotation by k·90°
    /// (k uniform in 0..3; with the flip this covers all 8 symmetries of the square), and a shift uniform in
    /// [−MaxShift, MaxShift]² pixels.
    /// </summary>
    public static void ApplyRandom(Span<float> chw, int channels, int s, AugmentOptions o, Rng rng)
    {
        var tmp = new float[chw.Length];
        if (o.Flips && rng.NextInt(2) == 1) { FlipHorizontal(chw, tmp, channels, s); tmp.CopyTo(chw); }
        if (o.Rotations)
            for (int k = rng.NextInt(4); k > 0; k--) { Rotate90(chw, tmp, channels, s); tmp.CopyTo(chw); }
        if (o.MaxShift > 0)
        {
            int dx = rng.NextInt(2 * o.MaxShift + 1) - o.MaxShift, dy = rng.NextInt(2 * o.MaxShift + 1) - o.MaxShift;
            if (dx != 0 || dy != 0) { Shift(chw, tmp, channels, s, dx, dy); tmp.CopyTo(chw); }
        }
    }
}

/// <summary>
/// <paramref name="copies"/> randomly transformed versions of every image of <paramref name="inner"/>: entry
/// k·n + i is copy k of image i, drawn from a stream that depends only on (seed, k·n + i), so the set is the same
/// whatever order or thread loads it.
/// </summary>
public sealed class AugmentedDataset(IImageDataset inner, int copies, AugmentOptions options, ulong seed) : IImageDataset
{
    public int Count => inner.Count * copies;
    public int Channels => inner.Channels;
    public int Size => inner.Size;

    public void Load(int index, Span<float> chw)
    {
        inner.Load(index % inner.Count, chw);
        var rng = new Rng(seed * 0x9E3779B97F4A7C15UL + (ulong)index + 1);
        ImageTransforms.ApplyRandom(chw, Channels, Size, options, rng);
    }

    public string NameOf(int index) => $"{inner.NameOf(index % inner.Count)}#aug{index / inner.Count + 1}";
    public int LabelOf(int index) => inner.LabelOf(index % inner.Count);
}
