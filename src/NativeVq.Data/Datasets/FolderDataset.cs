namespace NativeVq.Data;

/// <summary>
/// Base of the datasets backed by image files: decodes with <see cref="ImageIO"/> and reports the first colour
/// conversion (e.g. "RGB to grayscale") once through <see cref="Notice"/>, not once per image.
/// </summary>
public abstract class ImageFileDataset : IImageDataset
{
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".bmp"];
    private int _reported;

    protected ImageFileDataset(ImageLoadOptions options, Action<string>? notice)
    {
        if (options.Channels is not (1 or 3)) throw new UserError($"channels must be 1 (grayscale) or 3 (RGB), not {options.Channels}");
        if (options.Size is < 1 or > 8192) throw new UserError($"image size must be between 1 and 8192, not {options.Size}");
        if (options.MaxPixels < 1) throw new UserError($"pixel limit must be positive, not {options.MaxPixels}");
        Options = options;
        Notice = notice;
    }

    public ImageLoadOptions Options { get; }
    /// <summary>Receives one-off remarks (the first colour conversion). Null = silent.</summary>
    public Action<string>? Notice { get; set; }
    /// <summary>True once any image needed a colour conversion.</summary>
    public bool Converted => _reported != 0;

    public abstract int Count { get; }
    public int Channels => Options.Channels;
    public int Size => Options.Size;
    public abstract string PathOf(int index);
    public abstract string NameOf(int index);
    public abstract int LabelOf(int index);

    public void Load(int index, Span<float> chw)
    {
        var path = PathOf(index);
        var conversion = ImageIO.LoadInto(path, chw, Options);
        if (conversion is not null && Interlocked.Exchange(ref _reported, 1) == 0)
            Notice?.Invoke($"{path}: converted {conversion} (further conversions are not reported)");
    }

    /// <summary>Image files under <paramref name="dir"/>, recursive, in ordinal order of their relative paths.</summary>
    protected static string[] ListImages(string dir, bool recursive = true)
    {
        var opt = new EnumerationOptions { RecurseSubdirectories = recursive, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System, MatchCasing = MatchCasing.CaseInsensitive };
        var files = Directory.EnumerateFiles(dir, "*", opt)
            .Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Select(f => Path.GetRelativePath(dir, f))
            .ToArray();
        // Ordinal on '/'-normalised paths: the same order on every machine and file system.
        Array.Sort(files, (a, b) => string.CompareOrdinal(a.Replace('\\', '/'), b.Replace('\\', '/')));
        return files;
    }
}

/// <summary>Every PNG/JPEG/BMP under a folder (recursive), sorted by relative path; labels are unknown (-1).</summary>
public sealed class FolderDataset : ImageFileDataset
{
    private readonly string[] _relative;

    public FolderDataset(string root, ImageLoadOptions options, Action<string>? notice = null) : base(options, notice)
    {
        if (File.Exists(root)) throw new UserError($"{root}: is a file; a folder dataset needs a folder of images");
        if (!Directory.Exists(root)) throw new UserError($"{root}: folder not found");
        Root = Path.GetFullPath(root);
        _relative = ListImages(Root);
        if (_relative.Length == 0) throw new UserError($"{root}: no images found (looked for {string.Join(", ", Extensions)} in all subfolders)");
    }

    public string Root { get; }
    public override int Count => _relative.Length;
    public override string PathOf(int index) => Path.Combine(Root, _relative[index]);
    public override string NameOf(int index) => _relative[index].Replace('\\', '/');
    public override int LabelOf(int index) => -1;
}
