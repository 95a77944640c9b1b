namespace NativeVq.Data.Volumes;

/// <summary>How volumes become the 2D slices the models see (shared by training, scoring and the demo).</summary>
public sealed record VolumeOptions
{
    /// <summary>Slices are cut across this axis: 0 = x, 1 = y, 2 = z (the last, default).</summary>
    public int Axis { get; init; } = 2;
    /// <summary>Per-volume intensity window: values at or below this percentile of the volume's voxels become −1 …</summary>
    public double ClipLow { get; init; } = 0.5;
    /// <summary>… and values at or above this percentile become +1 (linear in between).</summary>
    public double ClipHigh { get; init; } = 99.5;
    /// <summary>Leave out slices with no voxel above the low clip value (all background).</summary>
    public bool SkipEmpty { get; init; }
    public long MaxVoxels { get; init; } = NiftiFile.DefaultMaxVoxels;

    public void Validate()
    {
        if (Axis is < 0 or > 2) throw new UserError($"--slice-axis must be 0 (x), 1 (y) or 2 (z), got {Axis}");
        if (!(ClipLow >= 0 && ClipLow < ClipHigh && ClipHigh <= 100))
            throw new UserError($"--clip-percentiles must satisfy 0 ≤ low < high ≤ 100, got {ClipLow} and {ClipHigh}");
        if (MaxVoxels < 1) throw new UserError($"voxel limit must be positive, not {MaxVoxels}");
    }
}

/// <summary>
/// Intensity normalisation, slicing and the way back: a slice of rows x cols voxels becomes a Size x Size image by
/// stretching the whole slice (the antialiased bilinear resampling of <see cref="Resample"/>), and a Size x Size map
/// becomes rows x cols again by the same resampling, so maps stack back onto the voxels they came from.
/// </summary>
public static class VolumeSlicing
{
    /// <summary>
    /// The volume's values mapped to [−1, 1]: v' = 2·clamp((v − p_low)/(p_high − p_low), 0, 1) − 1 with p_low, p_high
    /// the <see cref="VolumeOptions.ClipLow"/>/<see cref="VolumeOptions.ClipHigh"/> percentiles of all its voxels
    /// (numpy's linear interpolation). A constant volume becomes all −1 (background).
    /// </summary>
    public static float[] Normalize(Volume v, VolumeOptions o)
    {
        var (lo, hi) = Window(v.Data, o.ClipLow, o.ClipHigh);
        var dst = new float[v.Data.Length];
        double range = hi - lo;
        for (long i = 0; i < dst.LongLength; i++)
        {
            double t = range > 0 ? (v.Data[i] - lo) / range : 0;
            dst[i] = (float)(2 * Math.Clamp(t, 0, 1) - 1);
        }
        return dst;
    }

    /// <summary>The two percentiles of <paramref name="values"/>.</summary>
    public static (double Low, double High) Window(float[] values, double low, double high)
    {
        var sorted = (float[])values.Clone();
        Array.Sort(sorted);
        return (Percentile(sorted, low), Percentile(sorted, high));
    }

    private static double Percentile(float[] sorted, double p)
    {
        double pos = p / 100.0 * (sorted.Length - 1);
        long lo = (long)Math.Floor(pos);
        long hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * ((double)sorted[hi] - sorted[lo]);
    }

    /// <summary>True when every voxel of the slice of the normalised volume is background (−1).</summary>
    public static bool IsEmpty(Volume v, float[] normalized, int axis, int index)
        => v.Slice(axis, index, normalized).All(x => x <= -1f);

    /// <summary>Slice <paramref name="index"/> of the normalised volume as a size x size image.</summary>
    public static float[] SliceImage(Volume v, float[] normalized, int axis, int index, int size)
    {
        var (rows, cols) = v.SliceShape(axis);
        var s = v.Slice(axis, index, normalized);
        return rows == size && cols == size ? s : Resample.Plane(s, cols, rows, size, size);
    }

    /// <summary>A size x size map back to the slice's rows x cols.</summary>
    public static float[] MapBack(float[] map, int size, int rows, int cols)
        => rows == size && cols == size ? map : Resample.Plane(map, size, size, cols, rows);
}
