using System.Buffers.Binary;

namespace NativeVq.Data.Volumes;

/// <summary>The voxel types NativeVq reads (NIfTI-1 datatype codes).</summary>
public enum NiftiType : short
{
    UInt8 = 2,
    Int16 = 4,
    Int32 = 8,
    Float32 = 16,
    Float64 = 64,
}

/// <summary>
/// A NIfTI-1 header (348 bytes), held as its raw bytes converted to little endian so that every field we do not
/// interpret (qform/sform, pixdim, units, description, intent...) is written back unchanged: a score map carries
/// the affine and orientation of the scan it came from. The fields NativeVq uses are read through properties.
/// Layout: the NIfTI-1 standard (nifti1.h); offsets below.
/// </summary>
public sealed class NiftiHeader
{
    public const int Size = 348;
    /// <summary>Header + the 4-byte extension flag: the first byte voxel data may start at in a .nii file.</summary>
    public const int MinVoxOffset = 352;

    // Offsets of the fields we read or write (nifti1.h).
    internal const int OffDim = 40, OffDatatype = 70, OffBitpix = 72, OffPixdim = 76, OffVoxOffset = 108,
        OffSclSlope = 112, OffSclInter = 116, OffCalMax = 124, OffCalMin = 128, OffQformCode = 252, OffSformCode = 254,
        OffQuatern = 256, OffSrow = 280, OffMagic = 344;

    /// <summary>Every numeric field as (offset, element size, count): what a byte swap must reverse.</summary>
    internal static readonly (int Offset, int Width, int Count)[] NumericFields =
    [
        (0, 4, 1),      // sizeof_hdr
        (32, 4, 1),     // extents
        (36, 2, 1),     // session_error
        (40, 2, 8),     // dim[8]
        (56, 4, 3),     // intent_p1..3
        (68, 2, 4),     // intent_code, datatype, bitpix, slice_start
        (76, 4, 8),     // pixdim[8]
        (108, 4, 3),    // vox_offset, scl_slope, scl_inter
        (120, 2, 1),    // slice_end
        (124, 4, 4),    // cal_max, cal_min, slice_duration, toffset
        (140, 4, 2),    // glmax, glmin
        (252, 2, 2),    // qform_code, sform_code
        (256, 4, 18),   // quatern_b..d, qoffset_x..z, srow_x[4], srow_y[4], srow_z[4]
    ];

    private readonly byte[] _le;

    private NiftiHeader(byte[] littleEndian) => _le = littleEndian;

    /// <summary>The header bytes in little-endian order (a copy).</summary>
    public byte[] Bytes => (byte[])_le.Clone();

    /// <summary>True when the file stored the header (and its voxels) big endian.</summary>
    public bool SourceBigEndian { get; private init; }

    public int Nx => Short(OffDim + 2);
    public int Ny => Short(OffDim + 4);
    public int Nz => Short(OffDim + 6);
    public long VoxelCount => (long)Nx * Ny * Nz;
    public NiftiType Datatype => (NiftiType)Short(OffDatatype);
    public int Bitpix => Short(OffBitpix);
    public float VoxOffset => Float(OffVoxOffset);
    public float SclSlope => Float(OffSclSlope);
    public float SclInter => Float(OffSclInter);
    public int QformCode => Short(OffQformCode);
    public int SformCode => Short(OffSformCode);
    /// <summary>pixdim[1..3]: voxel spacing along x, y, z.</summary>
    public float[] Spacing => [Float(OffPixdim + 4), Float(OffPixdim + 8), Float(OffPixdim + 12)];
    /// <summary>srow_x, srow_y, srow_z (the sform affine rows).</summary>
    public float[] Srow => Enumerable.Range(0, 12).Select(i => Float(OffSrow + 4 * i)).ToArray();
    /// <summary>quatern_b, c, d and qoffset_x, y, z (the qform).</summary>
    public float[] Qform => Enumerable.Range(0, 6).Select(i => Float(OffQuatern + 4 * i)).ToArray();

    /// <summary>Bytes per stored voxel of a supported type.</summary>
    public static int BytesPer(NiftiType t) => t switch
    {
        NiftiType.UInt8 => 1,
        NiftiType.Int16 => 2,
        NiftiType.Int32 or NiftiType.Float32 => 4,
        NiftiType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>
    /// Parses and validates the first 348 bytes of <paramref name="path"/>. Everything unsupported is refused with a
    /// <see cref="UserError"/> naming the file and the field. <paramref name="maxVoxels"/> is checked here, before
    /// anything allocates the voxels.
    /// </summary>
    public static NiftiHeader Parse(ReadOnlySpan<byte> raw, string path, long maxVoxels)
    {
        if (raw.Length < Size) throw new UserError($"{path}: NIfTI file is truncated (header needs {Size} bytes, file has {raw.Length})");
        int le = BinaryPrimitives.ReadInt32LittleEndian(raw), be = BinaryPrimitives.ReadInt32BigEndian(raw);
        bool big;
        if (le == Size) big = false;
        else if (be == Size) big = true;
        else if (le == 540 || be == 540) throw new UserError($"{path}: NIfTI-2 files are not supported (sizeof_hdr is 540); save the volume as NIfTI-1");
        else throw new UserError($"{path}: not a NIfTI-1 file (sizeof_hdr is {le}, expected 348)");
        var bytes = raw[..Size].ToArray();
        if (big) SwapFields(bytes);
        var h = new NiftiHeader(bytes) { SourceBigEndian = big };
        h.Validate(path, maxVoxels);
        return h;
    }

    private void Validate(string path, long maxVoxels)
    {
        var magic = _le.AsSpan(OffMagic, 4);
        if (magic.SequenceEqual("ni1\0"u8))
            throw new UserError($"{path}: magic is \"ni1\" (a two-file .hdr/.img pair); only single-file .nii / .nii.gz (magic \"n+1\") is supported");
        if (!magic.SequenceEqual("n+1\0"u8))
            throw new UserError($"{path}: magic is not \"n+1\" (bytes {Convert.ToHexString(magic)}); not a single-file NIfTI-1 volume");
        int rank = Short(OffDim);
        if (rank == 4 ? Short(OffDim + 8) != 1 : rank != 3)
            throw new UserError(rank == 4
                ? $"{path}: dim[4] is {Short(OffDim + 8)}: a 4D series is not supported (only 3D volumes, or 4D with one time point)"
                : $"{path}: dim[0] is {rank}: only 3D volumes are supported (dim[0] 3, or 4 with dim[4] = 1)");
        for (int a = 1; a <= 3; a++)
            if (Short(OffDim + 2 * a) < 1) throw new UserError($"{path}: dim[{a}] is {Short(OffDim + 2 * a)}; every dimension must be positive");
        if (VoxelCount > maxVoxels)
            throw new UserError($"{path}: volume is {Nx}x{Ny}x{Nz} = {VoxelCount} voxels, above the limit of {maxVoxels} (raise the voxel limit option to load it)");
        var type = Datatype;
        if (!Enum.IsDefined(type))
            throw new UserError($"{path}: datatype {Short(OffDatatype)} is not supported (supported: 2 uint8, 4 int16, 8 int32, 16 float32, 64 float64)");
        if (Bitpix != 8 * BytesPer(type))
            throw new UserError($"{path}: bitpix is {Bitpix} but datatype {(short)type} ({type}) has {8 * BytesPer(type)} bits per voxel");
        float off = VoxOffset;
        if (!float.IsFinite(off) || off < MinVoxOffset || off != MathF.Floor(off) || off > int.MaxValue)
            throw new UserError($"{path}: vox_offset is {off}; a single-file NIfTI-1 volume needs a whole number ≥ {MinVoxOffset}");
        float slope = SclSlope, inter = SclInter;
        if (float.IsInfinity(slope)) throw new UserError($"{path}: scl_slope is {slope}; it must be finite (0 or NaN = no scaling)");
        if (HasScaling && float.IsInfinity(inter)) throw new UserError($"{path}: scl_inter is {inter}; it must be finite");
    }

    /// <summary>The standard's rule: scl_slope 0 (or NaN, as nibabel writes for unscaled data) means no scaling.</summary>
    public bool HasScaling => SclSlope != 0 && !float.IsNaN(SclSlope);

    /// <summary>(slope, intercept) to apply to stored values: identity when the header has no scaling.</summary>
    public (double Slope, double Inter) Scaling => HasScaling ? (SclSlope, float.IsNaN(SclInter) ? 0 : SclInter) : (1, 0);

    /// <summary>
    /// The header of a float32 (or uint8) volume of the same shape and geometry: datatype, bitpix, vox_offset (352),
    /// scaling (none) and cal_min/cal_max (unset) replaced, dim[0] = 3, everything else (affine, pixdim, units,
    /// description) kept. Extensions of the source are not carried over.
    /// </summary>
    public NiftiHeader ForOutput(NiftiType type)
    {
        var b = Bytes;
        var h = new NiftiHeader(b);
        h.SetShort(OffDim, 3);
        h.SetShort(OffDim + 8, 1);
        h.SetShort(OffDatatype, (short)type);
        h.SetShort(OffBitpix, (short)(8 * BytesPer(type)));
        h.SetFloat(OffVoxOffset, MinVoxOffset);
        h.SetFloat(OffSclSlope, 1f);
        h.SetFloat(OffSclInter, 0f);
        h.SetFloat(OffCalMax, 0f);
        h.SetFloat(OffCalMin, 0f);
        "n+1\0"u8.CopyTo(b.AsSpan(OffMagic));
        return h;
    }

    /// <summary>A fresh header: identity-spaced volume (pixdim 1, sform = scanner coordinates in voxels, qform unset).</summary>
    public static NiftiHeader Create(int nx, int ny, int nz, NiftiType type)
    {
        if (nx < 1 || ny < 1 || nz < 1 || nx > short.MaxValue || ny > short.MaxValue || nz > short.MaxValue)
            throw new ArgumentException($"bad NIfTI volume shape {nx}x{ny}x{nz}");
        var h = new NiftiHeader(new byte[Size]);
        h.SetInt(0, Size);
        h.SetShort(OffDim, 3);
        h.SetShort(OffDim + 2, (short)nx); h.SetShort(OffDim + 4, (short)ny); h.SetShort(OffDim + 6, (short)nz);
        for (int i = 4; i <= 7; i++) h.SetShort(OffDim + 2 * i, 1);
        for (int i = 0; i <= 7; i++) h.SetFloat(OffPixdim + 4 * i, 1f);
        h.SetShort(OffSformCode, 2); // aligned: srow maps voxel indices to millimetres (identity here)
        h.SetFloat(OffSrow + 0, 1f); h.SetFloat(OffSrow + 16 + 4, 1f); h.SetFloat(OffSrow + 32 + 8, 1f);
        return h.ForOutput(type);
    }

    /// <summary>Reverses the byte order of every numeric field (in place).</summary>
    internal static void SwapFields(Span<byte> header)
    {
        foreach (var (offset, width, count) in NumericFields)
            for (int i = 0; i < count; i++) header.Slice(offset + i * width, width).Reverse();
    }

    internal short Short(int at) => BinaryPrimitives.ReadInt16LittleEndian(_le.AsSpan(at));
    internal float Float(int at) => BinaryPrimitives.ReadSingleLittleEndian(_le.AsSpan(at));
    private void SetShort(int at, short v) => BinaryPrimitives.WriteInt16LittleEndian(_le.AsSpan(at), v);
    private void SetInt(int at, int v) => BinaryPrimitives.WriteInt32LittleEndian(_le.AsSpan(at), v);
    private void SetFloat(int at, float v) => BinaryPrimitives.WriteSingleLittleEndian(_le.AsSpan(at), v);
}
