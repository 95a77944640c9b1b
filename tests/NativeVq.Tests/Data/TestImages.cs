using StbImageWriteSharp;

namespace NativeVq.Tests.Data;

/// <summary>A temp folder deleted on dispose, plus writers for small synthetic images.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() { Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "nvq-data-" + Guid.NewGuid().ToString("N")); Directory.CreateDirectory(Path); }
    public string Path { get; }
    public string this[string relative] => System.IO.Path.Combine(Path, relative);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch { } }
}

public static class TestImages
{
    /// <summary>A deterministic HWC 8-bit pattern (gradients, so resizing is checkable).</summary>
    public static byte[] Pattern(int w, int h, int comp)
    {
        var b = new byte[w * h * comp];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < comp; c++)
                    b[(y * w + x) * comp + c] = (byte)((x * 255 / Math.Max(1, w - 1) + c * 60 + y * 3) % 256);
        return b;
    }

    public static ColorComponents Comp(int comp) => comp switch
    {
        1 => ColorComponents.Grey, 2 => ColorComponents.GreyAlpha, 3 => ColorComponents.RedGreenBlue, _ => ColorComponents.RedGreenBlueAlpha,
    };

    public static string Write(string path, string format, int w, int h, int comp, byte[]? pixels = null)
    {
        pixels ??= Pattern(w, h, comp);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        using var s = File.Create(path);
        var wr = new ImageWriter();
        switch (format)
        {
            case "png": wr.WritePng(pixels, w, h, Comp(comp), s); break;
            case "jpg": wr.WriteJpg(pixels, w, h, Comp(comp), s, 95); break;
            case "bmp": wr.WriteBmp(pixels, w, h, Comp(comp), s); break;
            default: throw new ArgumentException(format);
        }
        return path;
    }
}
