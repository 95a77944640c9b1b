using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Tests.Data;

namespace NativeVq.Tests.Reliability;

/// <summary>Generated inputs for the reliability tests: IDX pairs, checkpoints, damaged PNGs, files with non-UTF-8 names.</summary>
internal static class ReliabilityFiles
{
    /// <summary>An IDX images/labels pair of <paramref name="labels"/>.Length 4x4 digits in <paramref name="dir"/>.</summary>
    public static string WriteIdx(string dir, byte[] labels, int declaredImages = -1)
    {
        Directory.CreateDirectory(dir);
        int n = labels.Length;
        var img = new byte[16 + n * 16];
        BinaryPrimitives.WriteUInt32BigEndian(img, 0x803);
        BinaryPrimitives.WriteUInt32BigEndian(img.AsSpan(4), (uint)(declaredImages >= 0 ? declaredImages : n));
        BinaryPrimitives.WriteUInt32BigEndian(img.AsSpan(8), 4);
        BinaryPrimitives.WriteUInt32BigEndian(img.AsSpan(12), 4);
        for (int i = 16; i < img.Length; i++) img[i] = (byte)(i * 37);
        var lab = new byte[8 + n];
        BinaryPrimitives.WriteUInt32BigEndian(lab, 0x801);
        BinaryPrimitives.WriteUInt32BigEndian(lab.AsSpan(4), (uint)n);
        labels.CopyTo(lab, 8);
        var images = Path.Combine(dir, "t-images-idx3-ubyte");
        File.WriteAllBytes(images, img);
        File.WriteAllBytes(Path.Combine(dir, "t-labels-idx1-ubyte"), lab);
        return images;
    }

    /// <summary>A small valid checkpoint.</summary>
    public static void WriteCheckpoint(string path)
    {
        var b = CpuBackend.Instance;
        var w = TensorScope.Unscoped(() => Tensor.FromArray(b, Enumerable.Range(0, 12).Select(i => i * 0.5f).ToArray(), 3, 4));
        var c = TensorScope.Unscoped(() => Tensor.FromArray(b, new[] { 1, 2, 3 }, 3));
        NvqFile.Write(path, "vqvae", new JsonObject { ["channels"] = 1, ["name"] = "tiny" }, [("w", w), ("c", c)], new JsonObject { ["step"] = 3 });
    }

    /// <summary>Rewrites the SHA-256 trailer so a deliberately edited checkpoint passes the checksum.</summary>
    public static byte[] Reseal(byte[] file)
    {
        var copy = (byte[])file.Clone();
        SHA256.HashData(copy.AsSpan(0, copy.Length - 32)).CopyTo(copy, copy.Length - 32);
        return copy;
    }

    /// <summary>A PNG whose IHDR claims bit depth 3 for colour type 2 (CRC fixed, so only the header is wrong).</summary>
    public static byte[] PngWithBadBitDepth(string validPng)
    {
        var b = File.ReadAllBytes(validPng);
        b[24] = 3; b[25] = 2;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(29), ImageValidation.Crc32(b.AsSpan(12, 17)));
        return b;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int rename(byte[] oldPath, byte[] newPath);

    /// <summary>Renames <paramref name="file"/> to its folder + raw name bytes that are not valid UTF-8 (Linux only).</summary>
    public static void RenameToInvalidUtf8(string file, byte[] rawName)
    {
        var dir = System.Text.Encoding.UTF8.GetBytes(Path.GetDirectoryName(Path.GetFullPath(file))! + "/");
        byte[] Z(byte[] s) => [.. s, 0];
        if (rename(Z(System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(file))), Z([.. dir, .. rawName])) != 0)
            throw new IOException($"rename failed ({Marshal.GetLastWin32Error()})");
    }

    /// <summary>Deletes a file whose name is raw bytes (.NET cannot name it, so the temp folder could not be removed).</summary>
    public static void DeleteRaw(string dir, byte[] rawName)
    {
        byte[] path = [.. System.Text.Encoding.UTF8.GetBytes(Path.GetFullPath(dir) + "/"), .. rawName, 0];
        unlink(path);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int unlink(byte[] path);

    public static void Png(string path, int size = 16, byte value = 128) => TestImages.Write(path, "png", size, size, 1, Enumerable.Repeat(value, size * size).ToArray());
}
