using System.Buffers.Binary;
using NativeVq.Data;

namespace NativeVq.Tests.Data;

public sealed class ImageIOTests
{
    [Theory]
    [InlineData("png", 1)] [InlineData("png", 3)] [InlineData("png", 4)]
    [InlineData("bmp", 1)] [InlineData("bmp", 3)]
    [InlineData("jpg", 1)] [InlineData("jpg", 3)]
    public void RoundTripNativeSize(string fmt, int comp)
    {
        using var d = new TempDir();
        var px = TestImages.Pattern(23, 17, comp);
        var path = TestImages.Write(d["a." + fmt], fmt, 23, 17, comp, px);
        int want = comp >= 3 ? 3 : 1;
        var img = ImageIO.LoadNative(path, want);
        Assert.Equal((want, 17, 23), (img.Channels, img.Height, img.Width));
        float tol = fmt == "jpg" ? 0.25f : 1e-6f; // JPEG is lossy
        double err = 0;
        int n = 17 * 23;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < want; c++)
                err = Math.Max(err, Math.Abs(img.Data[c * n + i] - (px[i * comp + c] * (2f / 255f) - 1f)));
        if (fmt == "jpg") Assert.True(MeanAbs(img, px, comp) < 0.06, $"jpeg mean error {MeanAbs(img, px, comp)}");
        else Assert.True(err <= tol, $"max error {err}");
    }

    private static double MeanAbs(ImageF img, byte[] px, int comp)
    {
        int n = img.Height * img.Width; double s = 0;
        for (int i = 0; i < n; i++) for (int c = 0; c < img.Channels; c++) s += Math.Abs(img.Data[c * n + i] - (px[i * comp + c] * (2f / 255f) - 1f));
        return s / (n * img.Channels);
    }

    [Fact]
    public void SavePngRoundTripsAndIsAtomic()
    {
        using var d = new TempDir();
        var img = new ImageF(3, 5, 7);
        for (int i = 0; i < img.Data.Length; i++) img.Data[i] = (i % 256) * (2f / 255f) - 1f;
        var path = d["out/sub/x.png"];
        ImageIO.SavePng(path, img);
        Assert.False(File.Exists(path + ".tmp"));
        var back = ImageIO.LoadNative(path, 3);
        Assert.Equal(img.Data, back.Data);
        var gray = new ImageF(1, 4, 4, Enumerable.Range(0, 16).Select(i => i / 8f - 1f).ToArray());
        ImageIO.SavePng(path, gray); // overwrite
        var g = ImageIO.LoadNative(path, 1);
        for (int i = 0; i < 16; i++) Assert.Equal(gray.Data[i], g.Data[i], 0.005f);
    }

    [Fact]
    public void FailedAtomicWriteLeavesTargetUntouched()
    {
        using var d = new TempDir();
        var path = d["x.png"];
        File.WriteAllText(path, "old");
        Assert.Throws<UserError>(() => ImageIO.WriteAtomic(path, s => { s.Write(new byte[100]); throw new IOException("disk full"); }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Theory]
    [InlineData(ResizeMode.CropResize, 40, 20)]
    [InlineData(ResizeMode.Stretch, 40, 20)]
    [InlineData(ResizeMode.CenterCrop, 40, 20)]
    [InlineData(ResizeMode.CropResize, 5, 9)]
    [InlineData(ResizeMode.Stretch, 300, 200)]
    public void ResizeAndCropGiveRequestedSize(ResizeMode mode, int w, int h)
    {
        using var d = new TempDir();
        var path = TestImages.Write(d["a.png"], "png", w, h, 3);
        foreach (int ch in new[] { 1, 3 })
            foreach (int size in new[] { 8, 16, 32 })
            {
                var img = ImageIO.Load(path, new ImageLoadOptions { Size = size, Channels = ch, Resize = mode });
                Assert.Equal((ch, size, size), (img.Channels, img.Height, img.Width));
                Assert.All(img.Data, v => Assert.InRange(v, -1f, 1f));
            }
    }

    [Fact]
    public void ResizeOfConstantImageIsConstantAndCropMatchesPixels()
    {
        using var d = new TempDir();
        var flat = Enumerable.Repeat((byte)200, 37 * 29).ToArray();
        var path = TestImages.Write(d["c.png"], "png", 37, 29, 1, flat);
        float expect = 200 * (2f / 255f) - 1f;
        foreach (var mode in Enum.GetValues<ResizeMode>())
            foreach (int s in new[] { 7, 16, 64 })
            {
                var img = ImageIO.Load(path, new ImageLoadOptions { Size = s, Channels = 1, Resize = mode });
                if (mode == ResizeMode.CenterCrop && s > 29) continue; // padded
                Assert.All(img.Data, v => Assert.Equal(expect, v, 1e-4f));
            }
        // Centre crop of 8 from 37x29: window starts at ((37-8)/2, (29-8)/2) = (14, 10).
        var px = TestImages.Pattern(37, 29, 1);
        path = TestImages.Write(d["p.png"], "png", 37, 29, 1, px);
        var crop = ImageIO.Load(path, new ImageLoadOptions { Size = 8, Channels = 1, Resize = ResizeMode.CenterCrop });
        for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++)
            Assert.Equal(px[(10 + y) * 37 + 14 + x] * (2f / 255f) - 1f, crop.Data[y * 8 + x], 1e-6f);
        // Padding is black.
        var pad = ImageIO.Load(path, new ImageLoadOptions { Size = 40, Channels = 1, Resize = ResizeMode.CenterCrop });
        Assert.Equal(-1f, pad.Data[0]);
    }

    [Fact]
    public void DownscaleByTwoAveragesPairsAndUpscaleInterpolates()
    {
        // Row values 0,10,20,...: halving averages neighbours (triangle of support 2 → weights 1/8,3/8,3/8,1/8).
        var px = new byte[16 * 2];
        for (int y = 0; y < 2; y++) for (int x = 0; x < 16; x++) px[y * 16 + x] = (byte)(x * 10);
        var dst = new float[8 * 8];
        NativeVq.Data.Resample.ToChw(px, 16, 2, 1, dst, 8, ResizeMode.Stretch, nearest: false);
        for (int o = 1; o < 7; o++) Assert.Equal((20 * o + 5) * (2f / 255f) - 1f, dst[o], 1e-4f);
        // Upscaling 2 → 4 (half-pixel centres): 0, 0.25, 0.75, 1 of the way between the two pixels.
        var up = new float[16];
        NativeVq.Data.Resample.ToChw([0, 100, 0, 100], 2, 2, 1, up, 4, ResizeMode.Stretch, nearest: false);
        Assert.Equal(new[] { 0f, 25f, 75f, 100f }.Select(v => v * (2f / 255f) - 1f), up.Take(4), new Comparer());
    }

    private sealed class Comparer : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) < 1e-4f;
        public int GetHashCode(float x) => 0;
    }

    [Fact]
    public void ConversionIsReported()
    {
        using var d = new TempDir();
        var path = TestImages.Write(d["rgb.png"], "png", 8, 8, 3);
        Assert.Equal("RGB to grayscale", ImageIO.LoadInto(path, new float[64], new ImageLoadOptions { Size = 8, Channels = 1 }));
        Assert.Null(ImageIO.LoadInto(path, new float[192], new ImageLoadOptions { Size = 8, Channels = 3 }));
        var rgba = TestImages.Write(d["rgba.png"], "png", 8, 8, 4);
        Assert.Contains("alpha", ImageIO.LoadInto(rgba, new float[192], new ImageLoadOptions { Size = 8, Channels = 3 }));
    }

    [Theory]
    [InlineData("png")] [InlineData("jpg")] [InlineData("bmp")]
    public void TruncatedFilesAreReportedWithThePath(string fmt)
    {
        using var d = new TempDir();
        var path = TestImages.Write(d["t." + fmt], fmt, 64, 48, 3);
        var bytes = File.ReadAllBytes(path);
        foreach (double frac in new[] { 0.5, 0.9 })
        {
            File.WriteAllBytes(path, bytes[..(int)(bytes.Length * frac)]);
            var e = Assert.Throws<UserError>(() => ImageIO.Load(path, new ImageLoadOptions { Size = 16, Channels = 3 }));
            Assert.Contains(path, e.Message);
            Assert.Contains("truncated", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        // Just the last byte missing (JPEG: EOI cut; PNG: IEND CRC cut).
        if (fmt != "bmp")
        {
            File.WriteAllBytes(path, bytes[..^1]);
            Assert.Throws<UserError>(() => ImageIO.Load(path, new ImageLoadOptions { Size = 16, Channels = 3 }));
        }
    }

    [Fact]
    public void CorruptBytesAreReported()
    {
        using var d = new TempDir();
        var path = TestImages.Write(d["c.png"], "png", 32, 32, 3);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x5A; // inside IDAT: CRC mismatch
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<UserError>(() => ImageIO.Load(path, new ImageLoadOptions { Size = 8 }));
        Assert.Contains("CRC", e.Message);
        Assert.Contains(path, e.Message);

        File.WriteAllBytes(path, "this is not an image at all"u8.ToArray());
        e = Assert.Throws<UserError>(() => ImageIO.Load(path, new ImageLoadOptions { Size = 8 }));
        Assert.Contains("not a PNG, JPEG or BMP", e.Message);
        File.WriteAllBytes(path, []);
        Assert.Throws<UserError>(() => ImageIO.Load(path, new ImageLoadOptions { Size = 8 }));
        e = Assert.Throws<UserError>(() => ImageIO.Load(d["missing.png"], new ImageLoadOptions { Size = 8 }));
        Assert.Contains("not found", e.Message);

        // A JPEG with garbage where the scan should be: structurally complete, so stb gets it; any throw must be a UserError.
        var jpg = TestImages.Write(d["j.jpg"], "jpg", 32, 32, 3);
        var jb = File.ReadAllBytes(jpg);
        var rng = new Rng(5);
        for (int i = 0; i < 200; i++)
        {
            var copy = (byte[])jb.Clone();
            for (int k = 0; k < 4; k++) copy[20 + rng.NextInt(copy.Length - 22)] = (byte)rng.NextInt(256);
            File.WriteAllBytes(jpg, copy);
            try { ImageIO.Load(jpg, new ImageLoadOptions { Size = 8, Channels = 3 }); }
            catch (UserError ue) { Assert.Contains(jpg, ue.Message); Assert.DoesNotContain('\0', ue.Message); }
        }
    }

    [Fact]
    public void HugeHeaderIsRefusedBeforeDecoding()
    {
        using var d = new TempDir();
        // A structurally valid PNG whose IHDR claims 20000x20000 but whose IDAT is tiny: decoding would allocate 1.2 GB.
        var path = d["huge.png"];
        File.WriteAllBytes(path, Png(20000, 20000, idat: new byte[] { 0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01 }));
        var e = Assert.Throws<UserError>(() => ImageIO.Load(path, new ImageLoadOptions { Size = 8 }));
        Assert.Contains("megapixels", e.Message);
        Assert.Contains(path, e.Message);
        // The limit is an option.
        var small = TestImages.Write(d["s.png"], "png", 100, 100, 1);
        Assert.Throws<UserError>(() => ImageIO.Load(small, new ImageLoadOptions { Size = 8, MaxPixels = 9999 }));
        ImageIO.Load(small, new ImageLoadOptions { Size = 8, MaxPixels = 10000 });
    }

    private static byte[] Png(int w, int h, byte[] idat)
    {
        var ms = new MemoryStream();
        ms.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)w);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)h);
        ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
        Chunk(ms, "IHDR", ihdr); Chunk(ms, "IDAT", idat); Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var b = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, (uint)data.Length);
        System.Text.Encoding.ASCII.GetBytes(type).CopyTo(b, 4);
        data.CopyTo(b, 8);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8 + data.Length), Crc(b.AsSpan(4, 4 + data.Length)));
        s.Write(b);
    }

    private static uint Crc(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var x in data) { c ^= x; for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1; }
        return ~c;
    }

    [Fact]
    public void GridAndHeatMap()
    {
        using var d = new TempDir();
        var a = new ImageF(1, 8, 8); var b = new ImageF(3, 8, 8);
        var grid = ImageGrid.Compose([[a, a, a], [b, b]], border: 2);
        Assert.Equal((3, 2 * 8 + 3 * 2, 3 * 8 + 4 * 2), (grid.Channels, grid.Height, grid.Width));
        Assert.Equal(1f, grid.Data[0]);                    // border
        Assert.Equal(0f, grid.Data[2 * grid.Width + 2]);   // first cell (a is zeros)
        ImageGrid.Save(d["g.png"], [[a, b]]);
        Assert.Equal((22, 12, 3), ImageIO.ReadInfo(d["g.png"]));

        var values = Enumerable.Range(0, 16).Select(i => (float)i).ToArray();
        var hm = HeatMap.Colorize(values, 4, 4);
        Assert.Equal(3, hm.Channels);
        // Inferno: dark at the low end, bright at the high end.
        Assert.True(hm.Data[0] < -0.9f && hm.Data[15] > 0.9f);
        var jet = HeatMap.Colorize(values, 4, 4, map: Colormap.Jet);
        Assert.True(jet.Data[2 * 16 + 0] > jet.Data[0]);   // low values blue
        Assert.True(jet.Data[15] > jet.Data[2 * 16 + 15]); // high values red
        var over = HeatMap.Overlay(new ImageF(1, 16, 16), values, 4, 4, alpha: 0.5f);
        Assert.Equal((3, 16, 16), (over.Channels, over.Height, over.Width));
        Assert.All(over.Data, v => Assert.InRange(v, -1f, 1f));
        ImageIO.SavePng(d["h.png"], over);
    }
}
