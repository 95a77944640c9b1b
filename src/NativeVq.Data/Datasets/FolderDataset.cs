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

    /// <summary>
    /// Image files under <paramref name="dir"/> (recursive by default), in ordinal order of their relative paths.
    /// Folder links are followed once per real folder: a link whose target lies inside <paramref name="dir"/> (a
    /// loop, or a second name for a folder the walk lists anyway) is skipped, and so is a second link to the same
    /// outside folder. Files whose names are not valid UTF-8 cannot be opened by name from .NET: they are skipped
    /// and reported through <paramref name="notice"/>.
    /// </summary>
    protected static string[] ListImages(string dir, bool recursive = true, Action<string>? notice = null)
    {
        var opt = new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System, MatchCasing = MatchCasing.CaseInsensitive };
        var root = FileLinks.RealPath(dir);
        var seen = new HashSet<string>(StringComparer.Ordinal) { root };
        var files = new List<string>();
        var unreadable = new List<string>();
        var skippedLinks = new List<string>();
        void Walk(string folder)
        {
            foreach (var f in Directory.EnumerateFiles(folder, "*", opt))
            {
                if (!Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())) continue;
                // .NET turns undecodable name bytes into U+FFFD; such a path no longer names the file.
                if (f.Contains('\uFFFD') && !File.Exists(f)) { unreadable.Add(Path.GetRelativePath(dir, f)); continue; }
                files.Add(Path.GetRelativePath(dir, f));
            }
            if (!recursive) return;
            foreach (var sub in Directory.EnumerateDirectories(folder, "*", opt).Order(StringComparer.Ordinal))
            {
                if (new DirectoryInfo(sub).LinkTarget is not null)
                {
                    var real = FileLinks.RealPath(sub);
                    if (FileLinks.IsInside(real, root) || !seen.Add(real)) { skippedLinks.Add(Path.GetRelativePath(dir, sub)); continue; }
                }
                Walk(sub);
            }
        }
        Walk(dir);
        if (unreadable.Count > 0)
            notice?.Invoke($"{dir}: skipped {unreadable.Count} image file(s) whose names are not valid UTF-8 and cannot be opened (rename them): {string.Join(", ", unreadable.Take(3))}");
        if (skippedLinks.Count > 0)
            notice?.Invoke($"{dir}: did not follow {skippedLinks.Count} folder link(s) to folders already listed (loops or duplicates): {string.Join(", ", skippedLinks.Take(3))}");
        var result = files.ToArray();
        // Ordinal on '/'-normalised paths: the same order on every machine and file system.
        Array.Sort(result, (a, b) => string.CompareOrdinal(a.Replace('\\', '/'), b.Replace('\\', '/')));
        return result;
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
        _relative = ListImages(Root, notice: notice);
        if (_relative.Length == 0) throw new UserError($"{root}: no images found (looked for {string.Join(", ", Extensions)} in all subfolders)");
    }

    public string Root { get; }
    public override int Count => _relative.Length;
    public override string PathOf(int index) => Path.Combine(Root, _relative[index]);
    public override string NameOf(int index) => _relative[index].Replace('\\', '/');
    public override int LabelOf(int index) => -1;
}
