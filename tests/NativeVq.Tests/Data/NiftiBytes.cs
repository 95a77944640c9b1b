using System.Buffers.Binary;
using System.IO.Compression;

namespace NativeVq.Tests.Data;

/// <summary>
/// Builds NIfTI-1 files byte by byte, independently of the reader under test: every field is written at its
/// nifti1.h offset in the chosen byte order. Defaults give a valid 3x2x2 int16 volume.
/// </summary>
internal sealed record NiftiBytes
{
    public bool BigEndian { get; init; }
    public int SizeofHdr { get; init; } = 348;
    public short[] Dim { get; init; } = [3, 3, 2, 2, 1, 1, 1, 1];
    public short Datatype { get; init; } = 4;
    public short Bitpix { get; init; } = 16;
    public float VoxOffset { get; init; } = 352;
    public float SclSlope { get; init; } = 1;
    public float SclInter { get; init; }
    public string Magic { get; init; } = "n+1\0";
    public float[] Pixdim { get; init; } = [1, 0.8f, 0.9f, 2.5f, 1, 1, 1, 1];
    public short QformCode { get; init; } = 1;
    public short SformCode { get; init; } = 2;
    public float[] Quatern { get; init; } = [0.1f, -0.2f, 0.3f, 10f, -20f, 30f];
    public float[] Srow { get; init; } = [0.8f, 0, 0, -90, 0, 0.9f, 0, -126, 0, 0, 2.5f, -72];
    /// <summary>Stored voxel values (converted to <see cref="Datatype"/>); null = 0, 1, 2, … for every voxel.</summary>
    public double[]? Values { get; init; }
    /// <summary>Bytes appended after the voxel data (or removed when negative).</summary>
    public int ExtraBytes { get; init; }

    public long VoxelCount => (long)Dim[1] * Dim[2] * Dim[3] * (Dim[0] == 4 ? Dim[4] : 1);

    public byte[] Build()
    {
        int offset = (int)VoxOffset;
        int per = Datatype switch { 2 => 1, 4 => 2, 8 or 16 => 4, 64 => 8, _ => Math.Max(1, Bitpix / 8) };
        long count = Values?.Length ?? VoxelCount; // fewer values than voxels: a deliberately short file
        var b = new byte[Math.Max(348, offset) + count * per + Math.Max(0, ExtraBytes)];
        I32(b, 0, SizeofHdr);
        for (int i = 0; i < 8; i++) I16(b, 40 + 2 * i, Dim[i]);
        I16(b, 70, Datatype);
        I16(b, 72, Bitpix);
        for (int i = 0; i < 8; i++) F32(b, 76 + 4 * i, Pixdim[i]);
        F32(b, 108, VoxOffset);
        F32(b, 112, SclSlope);
        F32(b, 116, SclInter);
        "test volume"u8.CopyTo(b.AsSpan(148));
        I16(b, 252, QformCode);
        I16(b, 254, SformCode);
        for (int i = 0; i < 6; i++) F32(b, 256 + 4 * i, Quatern[i]);
        for (int i = 0; i < 12; i++) F32(b, 280 + 4 * i, Srow[i]);
        for (int i = 0; i < 4; i++) b[344 + i] = (byte)Magic[i];
        for (long i = 0; i < count; i++)
        {
            double v = Values?[i] ?? i;
            int at = (int)(offset + i * per);
            switch (Datatype)
            {
                case 2: b[at] = (byte)v; break;
                case 4: I16(b, at, (short)v); break;
                case 8: I32(b, at, (int)v); break;
                case 16: F32(b, at, (float)v); break;
                case 64: if (BigEndian) BinaryPrimitives.WriteDoubleBigEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(at), v); break;
            }
        }
        return ExtraBytes < 0 ? b[..(b.Length + ExtraBytes)] : b;
    }

    public static byte[] Gzip(byte[] plain)
    {
        using var ms = new MemoryStream();
        using (var z = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) z.Write(plain);
        return ms.ToArray();
    }

    private void I16(byte[] b, int at, short v) { if (BigEndian) BinaryPrimitives.WriteInt16BigEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(at), v); }
    private void I32(byte[] b, int at, int v) { if (BigEndian) BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at), v); }
    private void F32(byte[] b, int at, float v) { if (BigEndian) BinaryPrimitives.WriteSingleBigEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(at), v); }
}
