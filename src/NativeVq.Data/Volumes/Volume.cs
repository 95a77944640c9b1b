namespace NativeVq.Data.Volumes;

/// <summary>
/// A 3D scalar volume: voxel values (already scaled) in NIfTI order — x fastest, then y, then z — and the header
/// it came with, which keeps its geometry (affine, spacing, orientation) for the outputs derived from it.
/// </summary>
public sealed class Volume
{
    public Volume(NiftiHeader header, float[] data)
    {
        if (data.LongLength != header.VoxelCount)
            throw new ArgumentException($"{data.LongLength} values for a {header.Nx}x{header.Ny}x{header.Nz} volume");
        Header = header;
        Data = data;
    }

    /// <summary>A new volume with a fresh header (unit spacing, identity affine).</summary>
    public static Volume Create(int nx, int ny, int nz, float[]? data = null)
        => new(NiftiHeader.Create(nx, ny, nz, NiftiType.Float32), data ?? new float[(long)nx * ny * nz]);

    public NiftiHeader Header { get; }
    public float[] Data { get; }
    public int Nx => Header.Nx;
    public int Ny => Header.Ny;
    public int Nz => Header.Nz;

    /// <summary>Voxels along x, y, z for axis 0, 1, 2.</summary>
    public int Extent(int axis) => axis switch { 0 => Nx, 1 => Ny, 2 => Nz, _ => throw new ArgumentOutOfRangeException(nameof(axis)) };

    /// <summary>The same geometry with other values (e.g. a score map).</summary>
    public Volume WithData(float[] data) => new(Header, data);

    /// <summary>
    /// Rows and columns of a slice across <paramref name="axis"/>: z → (rows y, columns x), y → (z, x), x → (z, y).
    /// </summary>
    public (int Rows, int Cols) SliceShape(int axis) => axis switch
    {
        2 => (Ny, Nx),
        1 => (Nz, Nx),
        0 => (Nz, Ny),
        _ => throw new ArgumentOutOfRangeException(nameof(axis)),
    };

    /// <summary>Row-major [rows·cols] copy of slice <paramref name="index"/> across <paramref name="axis"/>.</summary>
    public float[] Slice(int axis, int index, float[]? source = null)
    {
        var (rows, cols) = SliceShape(axis);
        var dst = new float[rows * cols];
        var src = source ?? Data;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                dst[r * cols + c] = src[Offset(axis, index, r, c)];
        return dst;
    }

    /// <summary>Writes a row-major slice back into <paramref name="target"/> (a volume-shaped array).</summary>
    public void SetSlice(float[] target, int axis, int index, ReadOnlySpan<float> slice)
    {
        var (rows, cols) = SliceShape(axis);
        if (slice.Length != rows * cols) throw new ArgumentException($"{slice.Length} values for a {rows}x{cols} slice");
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                target[Offset(axis, index, r, c)] = slice[r * cols + c];
    }

    private long Offset(int axis, int index, int r, int c) => axis switch
    {
        2 => c + (long)Nx * (r + (long)Ny * index),
        1 => c + (long)Nx * (index + (long)Ny * r),
        _ => index + (long)Nx * (c + (long)Ny * r),
    };
}
