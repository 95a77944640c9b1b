using System.Buffers.Binary;
using System.IO.Compression;

namespace NativeVq.Data.Volumes;

/// <summary>
/// Reads and writes single-file NIfTI-1 volumes (<c>.nii</c>, and <c>.nii.gz</c> detected from the gzip signature,
/// not the name). Reading validates the header (<see cref="NiftiHeader.Parse"/>), refuses volumes above a voxel limit
/// before allocating them, checks that the file holds exactly the voxel bytes the header announces, applies
/// scl_slope/scl_inter and refuses non-finite voxel values. Writing is atomic (temp file, then rename).
/// </summary>
public static class NiftiFile
{
    /// <summary>256 Mi voxels (a 512³ CT is 128 Mi): 1 GiB as float32.</summary>
    public const long DefaultMaxVoxels = 1L << 28;

    /// <summary>True for names ending in .nii or .nii.gz (any case).</summary>
    public static bool IsNiftiName(string path)
        => path.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase);

    /// <summary>Only the header (for a .nii.gz, only the first 348 decompressed bytes are inflated).</summary>
    public static NiftiHeader ReadHeader(string path, long maxVoxels = DefaultMaxVoxels)
    {
        using var s = OpenData(path, out _);
        var raw = new byte[NiftiHeader.Size];
        int n = ReadUpTo(s, raw, path);
        return NiftiHeader.Parse(raw.AsSpan(0, n), path, maxVoxels);
    }

    /// <summary>Reads the whole volume, scaled to float values.</summary>
    public static Volume Read(string path, long maxVoxels = DefaultMaxVoxels)
    {
        using var s = OpenData(path, out long? plainLength);
        var raw = new byte[NiftiHeader.Size];
        int got = ReadUpTo(s, raw, path);
        var h = NiftiHeader.Parse(raw.AsSpan(0, got), path, maxVoxels);
        long offset = (long)h.VoxOffset;
        int per = NiftiHeader.BytesPer(h.Datatype);
        long need = h.VoxelCount * per;
        if (plainLength is long len && len != offset + need)
            throw new UserError($"{path}: holds {Math.Max(0, len - offset)} bytes of voxel data after vox_offset {offset}, but the header ({h.Nx}x{h.Ny}x{h.Nz} {h.Datatype}) needs {need}");
        // Skip the extensions between the header and vox_offset.
        Skip(s, offset - NiftiHeader.Size, path, offset, need);
        // Decode in chunks: no second copy of a large volume as bytes.
        var values = new float[h.VoxelCount];
        var chunk = new byte[per << 16];
        long done = 0;
        while (done < h.VoxelCount)
        {
            int count = (int)Math.Min(1 << 16, h.VoxelCount - done);
            int read = ReadUpTo(s, chunk.AsSpan(0, count * per), path);
            if (read < count * per)
                throw new UserError($"{path}: voxel data is truncated (the header ({h.Nx}x{h.Ny}x{h.Nz} {h.Datatype}) needs {need} bytes after vox_offset {offset}, the file holds {done * per + read})");
            Decode(chunk.AsSpan(0, count * per), values.AsSpan((int)done, count), done, h, path);
            done += count;
        }
        if (plainLength is null && ReadUpTo(s, new byte[1], path) != 0)
            throw new UserError($"{path}: holds more voxel data than the header ({h.Nx}x{h.Ny}x{h.Nz} {h.Datatype}, {need} bytes) announces");
        return new Volume(h, values);
    }

    /// <summary>Stored values → scaled floats; <paramref name="first"/> is the index of the first voxel (for messages).</summary>
    private static void Decode(ReadOnlySpan<byte> src, Span<float> dst, long first, NiftiHeader h, string path)
    {
        bool big = h.SourceBigEndian;
        var (slope, inter) = h.Scaling;
        for (int i = 0; i < dst.Length; i++)
        {
            double x = h.Datatype switch
            {
                NiftiType.UInt8 => src[i],
                NiftiType.Int16 => big ? BinaryPrimitives.ReadInt16BigEndian(src[(2 * i)..]) : BinaryPrimitives.ReadInt16LittleEndian(src[(2 * i)..]),
                NiftiType.Int32 => big ? BinaryPrimitives.ReadInt32BigEndian(src[(4 * i)..]) : BinaryPrimitives.ReadInt32LittleEndian(src[(4 * i)..]),
                NiftiType.Float32 => big ? BinaryPrimitives.ReadSingleBigEndian(src[(4 * i)..]) : BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]),
                _ => big ? BinaryPrimitives.ReadDoubleBigEndian(src[(8 * i)..]) : BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]),
            };
            float f = (float)(x * slope + inter);
            if (!float.IsFinite(f))
            {
                long k = first + i;
                var (xi, yi, zi) = (k % h.Nx, k / h.Nx % h.Ny, k / h.Nx / h.Ny);
                throw new UserError($"{path}: voxel ({xi}, {yi}, {zi}) is {(double.IsFinite(x) ? $"{x} × scl_slope {slope} + scl_inter {inter} = {f}" : x.ToString(System.Globalization.CultureInfo.InvariantCulture))}; voxel values must be finite");
            }
            dst[i] = f;
        }
    }

    /// <summary>
    /// Writes <paramref name="volume"/> as <paramref name="type"/> (float32 or uint8) with the geometry of its header
    /// (see <see cref="NiftiHeader.ForOutput"/>); gzip-compressed when the name ends in .gz. Atomic.
    /// </summary>
    public static void Write(string path, Volume volume, NiftiType type = NiftiType.Float32)
    {
        if (type is not (NiftiType.Float32 or NiftiType.UInt8)) throw new ArgumentException($"writing {type} is not supported");
        var h = volume.Header.ForOutput(type);
        int per = NiftiHeader.BytesPer(type);
        var bytes = new byte[NiftiHeader.MinVoxOffset + volume.Data.Length * per];
        h.Bytes.CopyTo(bytes, 0); // bytes 348..351 (extension flag) stay 0: no extensions
        var dst = bytes.AsSpan(NiftiHeader.MinVoxOffset);
        for (int i = 0; i < volume.Data.Length; i++)
        {
            if (type == NiftiType.Float32) BinaryPrimitives.WriteSingleLittleEndian(dst[(4 * i)..], volume.Data[i]);
            else dst[i] = (byte)Math.Clamp(MathF.Round(volume.Data[i]), 0f, 255f);
        }
        bool gz = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);
        ImageIO.WriteAtomic(path, s =>
        {
            if (!gz) { s.Write(bytes); return; }
            using var z = new GZipStream(s, CompressionLevel.Fastest, leaveOpen: true);
            z.Write(bytes);
        });
    }

    /// <summary>The decompressed byte stream; <paramref name="plainLength"/> is the file length when not gzip.</summary>
    private static Stream OpenData(string path, out long? plainLength)
    {
        FileStream f;
        try { f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new UserError($"{path}: file not found"); }
        catch (DirectoryNotFoundException) { throw new UserError($"{path}: file not found (no such folder)"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UserError($"{path}: cannot read ({ImageIO.OneLine(e.Message)})", e); }
        Span<byte> sig = stackalloc byte[2];
        int n = f.Read(sig);
        f.Position = 0;
        if (n == 2 && sig[0] == 0x1f && sig[1] == 0x8b)
        {
            plainLength = null;
            return new GZipStream(f, CompressionMode.Decompress);
        }
        plainLength = f.Length;
        return f;
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; corrupt gzip becomes a UserError.</summary>
    private static int ReadUpTo(Stream s, Span<byte> buffer, string path)
    {
        int total = 0;
        try
        {
            while (total < buffer.Length)
            {
                int n = s.Read(buffer[total..]);
                if (n == 0) break;
                total += n;
            }
        }
        catch (InvalidDataException e) { throw new UserError($"{path}: gzip data is corrupt ({ImageIO.OneLine(e.Message)})", e); }
        catch (IOException e) { throw new UserError($"{path}: cannot read ({ImageIO.OneLine(e.Message)})", e); }
        return total;
    }

    private static void Skip(Stream s, long count, string path, long offset, long need)
    {
        var buf = new byte[Math.Min(count, 1 << 16)];
        while (count > 0)
        {
            int n = ReadUpTo(s, buf.AsSpan(0, (int)Math.Min(count, buf.Length)), path);
            if (n == 0) throw new UserError($"{path}: file ends before vox_offset {offset} (voxel data of {need} bytes expected there)");
            count -= n;
        }
    }
}
