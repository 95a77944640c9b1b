using System.Buffers.Binary;
using System.IO.Compression;

namespace NativeVq.Data;

/// <summary>How 28x28 IDX digits become Size x Size inputs.</summary>
public enum IdxFit
{
    /// <summary>Pad with black, centred, when Size ≥ the native size (28 → 32 adds 2 pixels per side, like the peer model); resize when smaller.</summary>
    Auto,
    /// <summary>Pad with black, centred (Size must be ≥ the native size).</summary>
    Pad,
    /// <summary>Bilinear (antialiased) resize to Size.</summary>
    Resize,
}

/// <summary>
/// MNIST-style IDX files: <c>*-images-idx3-ubyte[.gz]</c> (magic 0x00000803, N x rows x cols uint8) and
/// <c>*-labels-idx1-ubyte[.gz]</c> (magic 0x00000801, N uint8). Everything is held in memory as bytes (MNIST: 7.8 MB
/// for 10,000 digits) and converted to [-1, 1] on <see cref="Load"/>. Optional class filters implement the
/// one-vs-rest protocol: keep only <c>normalClass</c> for training, or drop <c>excludeClass</c>.
/// </summary>
public sealed class IdxDataset : IImageDataset
{
    private readonly byte[] _pixels;
    private readonly byte[] _labels;
    private readonly int[] _index;  // dataset index -> record in the file
    private readonly int _rows, _cols;

    public IdxDataset(string imagesPath, string labelsPath, int size = 32, int channels = 1, int? normalClass = null, int? excludeClass = null, IdxFit fit = IdxFit.Auto)
    {
        if (channels is not (1 or 3)) throw new UserError($"channels must be 1 or 3, not {channels}");
        if (size is < 1 or > 4096) throw new UserError($"image size must be between 1 and 4096, not {size}");
        ImagesPath = imagesPath; LabelsPath = labelsPath;
        Channels = channels; Size = size;
        var img = ReadAll(imagesPath);
        var lab = ReadAll(labelsPath);
        (int n, _rows, _cols) = ParseImagesHeader(img, imagesPath);
        int nl = ParseLabelsHeader(lab, labelsPath);
        if (n != nl) throw new UserError($"{imagesPath}: holds {n} images but {labelsPath} holds {nl} labels");
        _pixels = img; _labels = lab;
        Fit = fit == IdxFit.Auto ? (size >= _rows && size >= _cols ? IdxFit.Pad : IdxFit.Resize) : fit;
        if (Fit == IdxFit.Pad && (size < _rows || size < _cols))
            throw new UserError($"{imagesPath}: cannot pad {_cols}x{_rows} digits to {size}x{size}; use a size ≥ {Math.Max(_rows, _cols)} or resize");
        if (normalClass is int want && !Enumerable.Range(0, n).Any(i => LabelAt(i) == want))
            throw new UserError($"{labelsPath}: holds no image of class {want} (classes present: {string.Join(", ", Enumerable.Range(0, n).Select(LabelAt).Distinct().Order())})");
        var keep = Enumerable.Range(0, n);
        if (normalClass is int nc) keep = keep.Where(i => LabelAt(i) == nc);
        if (excludeClass is int ec) keep = keep.Where(i => LabelAt(i) != ec);
        _index = keep.ToArray();
        if (_index.Length == 0)
            throw new UserError($"{labelsPath}: no images left after the class filter (normal class {normalClass?.ToString() ?? "-"}, excluded class {excludeClass?.ToString() ?? "-"})");
        FileCount = n;
    }

    /// <summary>Opens the image/label pair in a folder (or next to a given images file).</summary>
    public static IdxDataset Open(string path, int size = 32, int channels = 1, int? normalClass = null, int? excludeClass = null, IdxFit fit = IdxFit.Auto, string? prefix = null)
    {
        var (images, labels) = FindPair(path, prefix);
        return new IdxDataset(images, labels, size, channels, normalClass, excludeClass, fit);
    }

    /// <summary>Finds <c>X-images-idx3-ubyte[.gz]</c> and its <c>X-labels-idx1-ubyte[.gz]</c>.</summary>
    public static (string Images, string Labels) FindPair(string path, string? prefix = null)
    {
        string dir; string? imagesFile = null;
        if (File.Exists(path)) { imagesFile = path; dir = Path.GetDirectoryName(Path.GetFullPath(path))!; }
        else if (Directory.Exists(path)) dir = path;
        else throw new UserError($"{path}: not found (expected a folder with *-images-idx3-ubyte[.gz] and *-labels-idx1-ubyte[.gz])");
        if (imagesFile is null)
        {
            var all = Directory.GetFiles(dir).Where(f => IsImagesFile(f)).Order(StringComparer.Ordinal).ToList();
            if (prefix is not null) all = all.Where(f => Path.GetFileName(f).StartsWith(prefix + "-", StringComparison.Ordinal)).ToList();
            if (all.Count == 0) throw new UserError($"{path}: no {(prefix is null ? "" : prefix + "-")}*-images-idx3-ubyte[.gz] file in this folder");
            if (all.Count > 1) throw new UserError($"{path}: several IDX image files ({string.Join(", ", all.Select(Path.GetFileName))}); choose one by prefix or give the file");
            imagesFile = all[0];
        }
        var name = Path.GetFileName(imagesFile);
        if (!IsImagesFile(name)) throw new UserError($"{imagesFile}: not an IDX images file name (*-images-idx3-ubyte[.gz])");
        var stem = name[..name.IndexOf("-images-idx3-ubyte", StringComparison.Ordinal)];
        foreach (var ext in new[] { "", ".gz" })
        {
            var l = Path.Combine(dir, stem + "-labels-idx1-ubyte" + ext);
            if (File.Exists(l)) return (imagesFile, l);
        }
        throw new UserError($"{imagesFile}: labels file {stem}-labels-idx1-ubyte[.gz] not found beside it");
    }

    public static bool IsImagesFile(string path)
    {
        var n = Path.GetFileName(path);
        return n.EndsWith("-images-idx3-ubyte", StringComparison.Ordinal) || n.EndsWith("-images-idx3-ubyte.gz", StringComparison.Ordinal);
    }

    public string ImagesPath { get; }
    public string LabelsPath { get; }
    public IdxFit Fit { get; }
    /// <summary>Records in the file before filtering.</summary>
    public int FileCount { get; }
    public int NativeHeight => _rows;
    public int NativeWidth => _cols;
    public int Count => _index.Length;
    public int Channels { get; }
    public int Size { get; }
    public string NameOf(int index) => $"{Path.GetFileName(ImagesPath)}#{_index[index]}";
    public int LabelOf(int index) => LabelAt(_index[index]);
    /// <summary>Position of dataset item <paramref name="index"/> in the file.</summary>
    public int RecordOf(int index) => _index[index];

    private int LabelAt(int record) => _labels[8 + record];

    public void Load(int index, Span<float> chw)
    {
        int plane = Size * Size;
        if (chw.Length != Channels * plane) throw new ArgumentException($"buffer holds {chw.Length} values, image needs {Channels}x{Size}x{Size}");
        int rec = _index[index], pix = _rows * _cols;
        var src = new ReadOnlySpan<byte>(_pixels, 16 + rec * pix, pix);
        var dst = chw[..plane];
        if (Fit == IdxFit.Pad)
        {
            dst.Fill(-1f);
            int top = (Size - _rows) / 2, left = (Size - _cols) / 2;
            for (int y = 0; y < _rows; y++)
                for (int x = 0; x < _cols; x++)
                    dst[(top + y) * Size + left + x] = src[y * _cols + x] * (2f / 255f) - 1f;
        }
        else
        {
            Resample.ToChw(src.ToArray(), _cols, _rows, 1, dst, Size, ResizeMode.Stretch, nearest: false);
        }
        for (int c = 1; c < Channels; c++) dst.CopyTo(chw.Slice(c * plane, plane));
    }

    // ---- file parsing ----

    private static byte[] ReadAll(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            byte[] head = new byte[2];
            int got = fs.Read(head);
            fs.Position = 0;
            if (got == 2 && head[0] == 0x1F && head[1] == 0x8B)
            {
                using var gz = new GZipStream(fs, CompressionMode.Decompress);
                using var ms = new MemoryStream();
                gz.CopyTo(ms);
                return ms.ToArray();
            }
            var all = new byte[fs.Length];
            fs.ReadExactly(all);
            return all;
        }
        catch (FileNotFoundException) { throw new UserError($"{path}: file not found"); }
        catch (DirectoryNotFoundException) { throw new UserError($"{path}: file not found (no such folder)"); }
        catch (InvalidDataException e) { throw new UserError($"{path}: damaged gzip data ({ImageIO.OneLine(e.Message)})", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UserError($"{path}: cannot read ({ImageIO.OneLine(e.Message)})", e); }
    }

    private static (int N, int Rows, int Cols) ParseImagesHeader(byte[] b, string path)
    {
        if (b.Length < 16) throw new UserError($"{path}: too short for an IDX3 header ({b.Length} bytes)");
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(b);
        if (magic != 0x00000803)
            throw new UserError($"{path}: bad magic number 0x{magic:X8}, expected 0x00000803 (IDX3 uint8 images){(magic == 0x801 ? "; this is a labels file" : "")}");
        long n = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(4)), r = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(8)), c = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(12));
        if (r is < 1 or > 4096 || c is < 1 or > 4096) throw new UserError($"{path}: implausible image size {c}x{r} in the IDX header");
        long need = 16 + n * r * c;
        if (b.Length < need) throw new UserError($"{path}: truncated: header announces {n} images of {c}x{r} ({need} bytes), data has {b.Length}");
        if (b.Length > need) throw new UserError($"{path}: {b.Length - need} unexpected bytes after {n} images of {c}x{r}");
        if (n == 0) throw new UserError($"{path}: the IDX header declares 0 images");
        return ((int)n, (int)r, (int)c);
    }

    private static int ParseLabelsHeader(byte[] b, string path)
    {
        if (b.Length < 8) throw new UserError($"{path}: too short for an IDX1 header ({b.Length} bytes)");
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(b);
        if (magic != 0x00000801)
            throw new UserError($"{path}: bad magic number 0x{magic:X8}, expected 0x00000801 (IDX1 uint8 labels){(magic == 0x803 ? "; this is an images file" : "")}");
        long n = BinaryPrimitives.ReadUInt32BigEndian(b.AsSpan(4));
        if (b.Length != 8 + n) throw new UserError($"{path}: header announces {n} labels, data has {b.Length - 8} bytes");
        for (int i = 8; i < b.Length; i++)
            if (b[i] > 9) throw new UserError($"{path}: label {b[i]} of image {i - 8} is not a digit 0-9");
        return (int)n;
    }
}
