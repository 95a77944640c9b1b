using StbImageSharp;
using StbImageWriteSharp;
using ReadComponents = StbImageSharp.ColorComponents;
using WriteComponents = StbImageWriteSharp.ColorComponents;

namespace NativeVq.Data;

/// <summary>How an image of any size becomes a Size x Size input.</summary>
public enum ResizeMode
{
    /// <summary>Crop the central square (side = the shorter side), then resample it to Size (keeps the aspect ratio). Default.</summary>
    CropResize,
    /// <summary>Resample the whole image to Size x Size (distorts non-square images).</summary>
    Stretch,
    /// <summary>Cut the central Size x Size window without resampling; a smaller image is padded with black (-1).</summary>
    CenterCrop,
}

/// <summary>Options shared by every image-file dataset.</summary>
public sealed record ImageLoadOptions
{
    public const long DefaultMaxPixels = 40_000_000;

    /// <summary>Output side length (square).</summary>
    public int Size { get; init; } = 64;
    /// <summary>1 = grayscale, 3 = RGB. Sources in the other layout are converted (and reported once).</summary>
    public int Channels { get; init; } = 1;
    public ResizeMode Resize { get; init; } = ResizeMode.CropResize;
    /// <summary>Images whose header announces more pixels than this are refused before decoding.</summary>
    public long MaxPixels { get; init; } = DefaultMaxPixels;
}

/// <summary>A decoded image: 8-bit interleaved (HWC) pixels with the channel count that was asked for.</summary>
public sealed record DecodedImage(int Width, int Height, int Channels, int SourceChannels, ImageFormat Format, byte[] Pixels);

/// <summary>
/// Image loading and saving. Everything that reads a user's image goes through <see cref="Decode(string, int, long)"/>,
/// which (design.md §3) sniffs the format from the bytes, reads the header first and refuses images above a pixel
/// limit, validates the container (truncated or corrupt files are reported, not decoded into garbage), and turns
/// every decoder exception into a one-line <see cref="UserError"/> naming the file.
/// </summary>
public static class ImageIO
{
    /// <summary>Files above this size are refused before being read (a 40 MP image is far smaller, even as BMP).</summary>
    public const long MaxFileBytes = 1L << 30;

    /// <summary>
    /// Width, height and channel count of an image from its header, with the same checks and messages as
    /// <see cref="Decode(byte[], string, int, long)"/> (format, header validity, pixel limit, container) but no decoding.
    /// </summary>
    public static (int Width, int Height, int Channels) ReadInfo(string path, long maxPixels = ImageLoadOptions.DefaultMaxPixels)
    {
        var bytes = ReadFile(path);
        var (format, info) = Header(bytes, path, maxPixels);
        if (info is null) { var d = Decode(bytes, path, 3, maxPixels); return (d.Width, d.Height, d.SourceChannels); }
        return (info.Value.Width, info.Value.Height, ComponentCount(info.Value.ColorComponents));
    }

    /// <summary>Reads and decodes <paramref name="path"/> into <paramref name="channels"/> (1 or 3) 8-bit channels.</summary>
    public static DecodedImage Decode(string path, int channels, long maxPixels = ImageLoadOptions.DefaultMaxPixels)
        => Decode(ReadFile(path), path, channels, maxPixels);

    private static byte[] ReadFile(string path)
    {
        using var s = OpenRead(path);
        if (s.Length > MaxFileBytes) throw new UserError($"{path}: file is {s.Length >> 20} MiB, more than the {MaxFileBytes >> 20} MiB an image may have");
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>Decodes an in-memory file; <paramref name="path"/> only names it in messages.</summary>
    public static DecodedImage Decode(byte[] bytes, string path, int channels, long maxPixels = ImageLoadOptions.DefaultMaxPixels)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"channels must be 1 or 3, not {channels}");
        var (format, _) = Header(bytes, path, maxPixels);
        string kind = format.ToString().ToUpperInvariant();

        // 2. Decode; any exception at all becomes one line with the path.
        ImageResult img;
        try { img = ImageResult.FromMemory(bytes, channels == 1 ? ReadComponents.Grey : ReadComponents.RedGreenBlue); }
        catch (Exception e) { throw DecodeError(path, e, kind); }
        if (img is null || img.Data is null || img.Width <= 0 || img.Height <= 0 || img.Data.Length < (long)img.Width * img.Height * channels)
            throw new UserError($"{path}: {kind} decoder returned no pixels (damaged file)");
        return new DecodedImage(img.Width, img.Height, channels, ComponentCount(img.SourceComp), format, img.Data);
    }

    /// <summary>
    /// Step 1 of every read: the format from the signature, a valid header, a sound container (every segment or
    /// chunk inside the file), and the pixel limit, before anything allocates pixels. Each failure names its own
    /// cause (an invalid PNG header is not "not an image").
    /// </summary>
    private static (ImageFormat Format, ImageInfo? Info) Header(byte[] bytes, string path, long maxPixels)
    {
        var format = ImageValidation.Sniff(bytes)
            ?? throw new UserError($"{path}: not a PNG, JPEG or BMP image ({(bytes.Length == 0 ? "empty file" : "unknown signature")})");
        string kind = format.ToString().ToUpperInvariant();
        var headerProblem = ImageValidation.CheckHeader(format, bytes);
        if (headerProblem is not null) throw new UserError($"{path}: {kind} header is invalid ({headerProblem})");
        // The container walk comes before stb sees the bytes: stb's JPEG header reader loops forever on a file that
        // ends inside a segment (found by LoaderFuzzTests), and decodes truncated JPEG/BMP data into garbage.
        var problem = ImageValidation.Check(format, bytes);
        if (problem is not null) throw new UserError($"{path}: {kind} file is {problem}");
        ImageInfo? info;
        try { using var ms = new MemoryStream(bytes, writable: false); info = ImageInfo.FromStream(ms); }
        catch (Exception e) { throw DecodeError(path, e, kind); }
        var own = ImageValidation.HeaderSize(format, bytes);
        long w = info?.Width ?? own?.Width ?? 0, h = info?.Height ?? own?.Height ?? 0;
        if (own is { } o) { w = Math.Max(w, o.Width); h = Math.Max(h, o.Height); }
        if (info is null && own is null) throw new UserError($"{path}: {kind} header is unreadable (damaged file)");
        if (w <= 0 || h <= 0) throw new UserError($"{path}: {kind} header gives an empty image ({w}x{h})");
        if (w * h > maxPixels)
            throw new UserError($"{path}: image is {w}x{h} = {w * h / 1e6:0.#} megapixels, above the limit of {maxPixels / 1e6:0.#} (raise the pixel limit option to load it)");
        return (format, info);
    }

    /// <summary>
    /// Loads <paramref name="path"/> as a float CHW image in [-1, 1] of shape [channels, size, size] into
    /// <paramref name="chw"/>. Returns a description of the colour conversion made ("RGB to grayscale",
    /// "alpha dropped", ...) or null when the file already had the requested layout.
    /// </summary>
    public static string? LoadInto(string path, Span<float> chw, ImageLoadOptions options)
        => ToInput(Decode(path, options.Channels, options.MaxPixels), chw, options);

    /// <summary>
    /// <see cref="LoadInto(string, Span{float}, ImageLoadOptions)"/> for an encoded file already in memory (an HTTP
    /// body, an archive member); <paramref name="name"/> only names it in messages.
    /// </summary>
    public static string? LoadInto(byte[] encoded, string name, Span<float> chw, ImageLoadOptions options)
        => ToInput(Decode(encoded, name, options.Channels, options.MaxPixels), chw, options);

    private static string? ToInput(DecodedImage img, Span<float> chw, ImageLoadOptions options)
    {
        if (chw.Length != options.Channels * options.Size * options.Size)
            throw new ArgumentException($"buffer holds {chw.Length} values, image needs {options.Channels}x{options.Size}x{options.Size}");
        Resample.ToChw(img.Pixels, img.Width, img.Height, img.Channels, chw, options.Size, options.Resize, nearest: false);
        return Conversion(img.SourceChannels, img.Channels);
    }

    public static ImageF Load(string path, ImageLoadOptions options)
    {
        var img = new ImageF(options.Channels, options.Size, options.Size);
        LoadInto(path, img.Data, options);
        return img;
    }

    /// <summary>Loads an image at its native size (no resampling) as float CHW in [-1, 1].</summary>
    public static ImageF LoadNative(string path, int channels, long maxPixels = ImageLoadOptions.DefaultMaxPixels)
    {
        var d = Decode(path, channels, maxPixels);
        var img = new ImageF(channels, d.Height, d.Width);
        int n = d.Width * d.Height;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < channels; c++)
                img.Data[c * n + i] = d.Pixels[i * channels + c] * (2f / 255f) - 1f;
        return img;
    }

    internal static string? Conversion(int source, int target)
    {
        if (source == target) return null;
        string from = source switch { 1 => "grayscale", 2 => "grayscale+alpha", 3 => "RGB", 4 => "RGBA", _ => $"{source}-channel" };
        string to = target == 1 ? "grayscale" : "RGB";
        return (source, target) switch
        {
            (2, 1) or (4, 3) => $"{from} to {to} (alpha dropped, not composited)",
            _ => $"{from} to {to}",
        };
    }

    // ---- saving ----

    /// <summary>Saves float CHW in [-1, 1] (gray or RGB) as an 8-bit PNG, atomically (tmp file, then rename).</summary>
    public static void SavePng(string path, ReadOnlySpan<float> chw, int channels, int height, int width)
    {
        if (channels is not (1 or 3)) throw new ArgumentException($"PNG output has 1 or 3 channels, not {channels}");
        if (chw.Length != channels * height * width) throw new ArgumentException($"{chw.Length} values for a {channels}x{height}x{width} image");
        int n = height * width;
        var bytes = new byte[n * channels];
        for (int c = 0; c < channels; c++)
        {
            var plane = chw.Slice(c * n, n);
            for (int i = 0; i < n; i++)
            {
                float v = (plane[i] + 1f) * 127.5f;
                bytes[i * channels + c] = float.IsNaN(v) ? (byte)0 : (byte)Math.Clamp(MathF.Round(v), 0f, 255f);
            }
        }
        WriteAtomic(path, s => new ImageWriter().WritePng(bytes, width, height, channels == 1 ? WriteComponents.Grey : WriteComponents.RedGreenBlue, s));
    }

    public static void SavePng(string path, ImageF image) => SavePng(path, image.Data, image.Channels, image.Height, image.Width);

    /// <summary>Writes through a uniquely named temporary file and renames it over <paramref name="path"/>; no partial file is left behind.</summary>
    public static void WriteAtomic(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) OutputPath.CreateFolder(dir, $"{path}: cannot write", probeWrite: false);
        if (Directory.Exists(full)) throw new UserError($"{path}: cannot write: it is a folder");
        var tmp = OutputPath.TempFor(full);
        try
        {
            using (var s = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(s);
                s.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(tmp); } catch { /* best effort */ }
            if (e is UserError) throw;
            if (e is IOException or UnauthorizedAccessException) throw new UserError($"{path}: cannot write ({OneLine(e.Message)})", e);
            throw;
        }
    }

    // ---- helpers ----

    private static FileStream OpenRead(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new UserError($"{path}: file not found"); }
        catch (DirectoryNotFoundException) { throw new UserError($"{path}: file not found (no such folder)"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UserError($"{path}: cannot read ({OneLine(e.Message)})", e); }
    }

    private static UserError DecodeError(string path, Exception e, string kind = "image")
    {
        var msg = OneLine(e.Message);
        return new UserError($"{path}: {kind} cannot be decoded ({(msg.Length == 0 ? e.GetType().Name : msg)})", e);
    }

    /// <summary>stb messages can be NUL characters or multi-line: keep printable text on one line.</summary>
    internal static string OneLine(string? s)
    {
        if (string.IsNullOrEmpty(s)) return "";
        var chars = s.Where(ch => !char.IsControl(ch) || ch == '\n').Select(ch => ch == '\n' ? ' ' : ch).ToArray();
        return new string(chars).Trim();
    }

    private static int ComponentCount(ReadComponents c) => c switch
    {
        ReadComponents.Grey => 1,
        ReadComponents.GreyAlpha => 2,
        ReadComponents.RedGreenBlue => 3,
        ReadComponents.RedGreenBlueAlpha => 4,
        _ => 0,
    };
}
