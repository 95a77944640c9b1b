using System.Buffers.Binary;

namespace NativeVq.Data;

/// <summary>The container formats we accept (sniffed from the first bytes, never from the extension).</summary>
public enum ImageFormat { Png, Jpeg, Bmp }

/// <summary>
/// Structural checks that StbImageSharp does not make (design.md §3): it decodes a truncated JPEG or BMP without
/// complaint (the missing part comes back as garbage) and never verifies PNG CRCs. Each check walks the container
/// cheaply (no pixel decoding) and returns a short problem description, or null when the file is sound.
/// </summary>
internal static class ImageValidation
{
    public static ImageFormat? Sniff(ReadOnlySpan<byte> b)
    {
        if (b.Length >= 8 && b[..8].SequenceEqual(PngSignature)) return ImageFormat.Png;
        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageFormat.Jpeg;
        if (b.Length >= 2 && b[0] == (byte)'B' && b[1] == (byte)'M') return ImageFormat.Bmp;
        return null;
    }

    public static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    public static string? Check(ImageFormat format, ReadOnlySpan<byte> b) => format switch
    {
        ImageFormat.Png => CheckPng(b),
        ImageFormat.Jpeg => CheckJpeg(b),
        ImageFormat.Bmp => CheckBmp(b),
        _ => "unknown format",
    };

    /// <summary>
    /// Header fields that make the file undecodable whatever follows (PNG: IHDR first with 13 bytes, a bit depth
    /// allowed for the colour type, compression/filter/interlace methods 0/0/0-1). Null when the header is sound or
    /// too short to tell (the container check reports truncation).
    /// </summary>
    public static string? CheckHeader(ImageFormat format, ReadOnlySpan<byte> b)
    {
        if (format != ImageFormat.Png || b.Length < 33) return null;
        if (!b.Slice(12, 4).SequenceEqual("IHDR"u8) || BinaryPrimitives.ReadUInt32BigEndian(b[8..]) != 13)
            return "the first chunk is not a 13-byte IHDR";
        int depth = b[24], colour = b[25];
        int[]? allowed = colour switch { 0 => [1, 2, 4, 8, 16], 2 or 4 or 6 => [8, 16], 3 => [1, 2, 4, 8], _ => null };
        if (allowed is null) return $"colour type {colour} does not exist (0, 2, 3, 4 or 6)";
        if (!allowed.Contains(depth)) return $"bit depth {depth} is not allowed with colour type {colour} (allowed: {string.Join(", ", allowed)})";
        if (b[26] != 0 || b[27] != 0 || b[28] > 1) return $"unknown compression/filter/interlace method {b[26]}/{b[27]}/{b[28]}";
        return null;
    }

    /// <summary>Width and height from the container header (our own parse, used beside stb's ImageInfo).</summary>
    public static (long Width, long Height)? HeaderSize(ImageFormat format, ReadOnlySpan<byte> b)
    {
        switch (format)
        {
            case ImageFormat.Png:
                if (b.Length < 24) return null;
                return (BinaryPrimitives.ReadUInt32BigEndian(b[16..]), BinaryPrimitives.ReadUInt32BigEndian(b[20..]));
            case ImageFormat.Bmp:
                if (b.Length < 26) return null;
                uint dib = BinaryPrimitives.ReadUInt32LittleEndian(b[14..]);
                if (dib == 12) return (BinaryPrimitives.ReadUInt16LittleEndian(b[18..]), BinaryPrimitives.ReadUInt16LittleEndian(b[20..]));
                return (Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b[18..])), Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b[22..])));
            case ImageFormat.Jpeg:
                int i = 2;
                while (i + 4 <= b.Length)
                {
                    if (b[i] != 0xFF) return null;
                    byte m = b[i + 1];
                    if (m == 0xFF) { i++; continue; }
                    int len = BinaryPrimitives.ReadUInt16BigEndian(b[(i + 2)..]);
                    bool sof = m is >= 0xC0 and <= 0xCF && m is not (0xC4 or 0xC8 or 0xCC);
                    if (sof && i + 9 <= b.Length)
                        return (BinaryPrimitives.ReadUInt16BigEndian(b[(i + 7)..]), BinaryPrimitives.ReadUInt16BigEndian(b[(i + 5)..]));
                    if (m == 0xDA) return null;
                    i += 2 + len;
                }
                return null;
        }
        return null;
    }

    // ---- PNG: signature, every chunk inside the file with a matching CRC, IHDR first, IDAT present, IEND last ----
    private static string? CheckPng(ReadOnlySpan<byte> b)
    {
        int pos = 8;
        bool first = true, sawIdat = false;
        while (true)
        {
            if (pos + 12 > b.Length) return $"truncated (file ends at byte {b.Length} inside the chunk list, no IEND chunk)";
            uint len = BinaryPrimitives.ReadUInt32BigEndian(b[pos..]);
            if (len > int.MaxValue) return $"corrupt (chunk length {len} at byte {pos})";
            var type = b.Slice(pos + 4, 4);
            string name = new(type.ToArray().Select(c => c is >= 0x20 and < 0x7F ? (char)c : '?').ToArray());   // damaged names stay printable
            if (pos + 12L + len > b.Length) return $"truncated (chunk {name} at byte {pos} needs {len} bytes, file ends at byte {b.Length})";
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(b[(pos + 8 + (int)len)..]);
            if (Crc32(b.Slice(pos + 4, 4 + (int)len)) != crc) return $"corrupt (CRC mismatch in chunk {name} at byte {pos})";
            if (first && name != "IHDR") return "corrupt (first chunk is not IHDR)";
            first = false;
            if (name == "IDAT") sawIdat = true;
            if (name == "IEND") return sawIdat ? null : "corrupt (no IDAT chunk)";
            pos += 12 + (int)len;
        }
    }

    private static readonly uint[] CrcTable = MakeCrcTable();

    private static uint[] MakeCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }

    /// <summary>The CRC-32 of PNG chunks (ISO 3309 / zlib polynomial).</summary>
    internal static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte x in data) c = CrcTable[(c ^ x) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    // ---- JPEG: walk the marker segments from SOI; scan entropy-coded data (FF00 stuffing, RSTn) up to EOI ----
    private static string? CheckJpeg(ReadOnlySpan<byte> b)
    {
        int i = 2;
        bool sawFrame = false, sawScan = false;
        while (true)
        {
            if (i + 2 > b.Length) return $"truncated (no end-of-image marker; file ends at byte {b.Length})";
            if (b[i] != 0xFF) return $"corrupt (expected a marker at byte {i})";
            byte m = b[i + 1];
            if (m == 0xFF) { i++; continue; }                 // fill bytes
            if (m == 0xD9) return sawFrame && sawScan ? null : "corrupt (end-of-image before any frame or scan)";
            if (m is >= 0xD0 and <= 0xD7 or 0x01) { i += 2; continue; } // stand-alone markers
            if (i + 4 > b.Length) return $"truncated (segment header at byte {i} cut off)";
            int len = BinaryPrimitives.ReadUInt16BigEndian(b[(i + 2)..]);
            if (len < 2) return $"corrupt (segment length {len} at byte {i})";
            if (i + 2 + len > b.Length) return $"truncated (segment FF{m:X2} at byte {i} needs {len} bytes, file ends at byte {b.Length})";
            if (m is >= 0xC0 and <= 0xCF && m is not (0xC4 or 0xC8 or 0xCC)) sawFrame = true;
            i += 2 + len;
            if (m != 0xDA) continue;
            sawScan = true;
            // Entropy-coded data: a 0xFF byte is followed by 0x00 (stuffing) or RSTn inside the scan; any other
            // marker ends the scan.
            while (true)
            {
                int k = b[i..].IndexOf((byte)0xFF);
                if (k < 0 || i + k + 1 >= b.Length) return $"truncated (scan data runs to the end of the file at byte {b.Length}, no end-of-image marker)";
                i += k;
                byte n = b[i + 1];
                if (n == 0x00 || n is >= 0xD0 and <= 0xD7 || n == 0xFF) { i += n == 0xFF ? 1 : 2; continue; }
                break;
            }
        }
    }

    // ---- BMP: header sizes vs the actual length; RLE variants refused (stb decodes RLE8 wrongly) ----
    private static string? CheckBmp(ReadOnlySpan<byte> b)
    {
        if (b.Length < 26) return $"truncated (header needs 26 bytes, file has {b.Length})";
        uint fileSize = BinaryPrimitives.ReadUInt32LittleEndian(b[2..]);
        uint offBits = BinaryPrimitives.ReadUInt32LittleEndian(b[10..]);
        uint dib = BinaryPrimitives.ReadUInt32LittleEndian(b[14..]);
        if (fileSize > b.Length) return $"truncated (header says {fileSize} bytes, file has {b.Length})";
        if (offBits > b.Length) return $"truncated (pixel data should start at byte {offBits}, file has {b.Length})";
        if (dib < 40) return null; // OS/2 core header: no compression field; the size checks above are all we can do
        if (b.Length < 34) return $"truncated (info header cut off at byte {b.Length})";
        long width = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b[18..]));
        long height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b[22..]));
        int bpp = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]);
        uint compression = BinaryPrimitives.ReadUInt32LittleEndian(b[30..]);
        if (compression is 1 or 2) return "unsupported (RLE-compressed BMP; save it as PNG)";
        if (compression is 0 or 3 or 6)
        {
            long stride = (width * bpp + 31) / 32 * 4;
            long need = offBits + stride * height;
            if (need > b.Length) return $"truncated (pixel data needs {need} bytes, file has {b.Length})";
        }
        return null;
    }
}
