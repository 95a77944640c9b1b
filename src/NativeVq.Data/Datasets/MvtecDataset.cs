namespace NativeVq.Data;

public enum MvtecSplit { Train, Test }

/// <summary>
/// One MVTec AD category: <c>&lt;category&gt;/train/good</c> (normal training images),
/// <c>&lt;category&gt;/test/&lt;defect&gt;/</c> (good = normal, anything else = anomalous) and
/// <c>&lt;category&gt;/ground_truth/&lt;defect&gt;/&lt;name&gt;_mask.png</c> (pixel masks of the anomalous test images).
/// Order: defect folders sorted ordinally, then file names sorted ordinally.
/// </summary>
public sealed class MvtecDataset : ImageFileDataset
{
    private readonly (string Relative, string Defect)[] _items;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> _emptyMasksReported = new();

    public MvtecDataset(string categoryRoot, MvtecSplit split, ImageLoadOptions options, Action<string>? notice = null) : base(options, notice)
    {
        if (!Directory.Exists(categoryRoot)) throw new UserError($"{categoryRoot}: folder not found");
        Root = Path.GetFullPath(categoryRoot);
        Split = split;
        if (!IsCategory(Root))
        {
            var cats = Directory.Exists(Root) ? Directory.GetDirectories(Root).Where(IsCategory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList() : [];
            throw new UserError(cats.Count > 0
                ? $"{categoryRoot}: is an MVTec root holding several categories; point at one of: {string.Join(", ", cats)}"
                : $"{categoryRoot}: not an MVTec AD category (expected train/good and test/ folders)");
        }
        var items = new List<(string, string)>();
        if (split == MvtecSplit.Train)
        {
            foreach (var f in ListImages(Path.Combine(Root, "train", "good"), recursive: false, notice))
                items.Add((Path.Combine("train", "good", f), "good"));
        }
        else
        {
            var testDir = Path.Combine(Root, "test");
            if (!Directory.Exists(testDir)) throw new UserError($"{categoryRoot}: has no test/ folder");
            foreach (var d in Directory.GetDirectories(testDir).Select(Path.GetFileName).Order(StringComparer.Ordinal))
                foreach (var f in ListImages(Path.Combine(testDir, d!), recursive: false, notice))
                    items.Add((Path.Combine("test", d!, f), d!));
        }
        if (items.Count == 0)
            throw new UserError($"{categoryRoot}: no images in the {(split == MvtecSplit.Train ? "train/good" : "test/*")} folder");
        _items = items.ToArray();
    }

    /// <summary>The normal training images of a category.</summary>
    public static MvtecDataset Train(string categoryRoot, ImageLoadOptions options, Action<string>? notice = null) => new(categoryRoot, MvtecSplit.Train, options, notice);

    /// <summary>The labelled test images (good and every defect type) of a category.</summary>
    public static MvtecDataset Test(string categoryRoot, ImageLoadOptions options, Action<string>? notice = null) => new(categoryRoot, MvtecSplit.Test, options, notice);

    public static bool IsCategory(string dir) => Directory.Exists(Path.Combine(dir, "train", "good")) || (Directory.Exists(Path.Combine(dir, "test")) && Directory.Exists(Path.Combine(dir, "train")));

    public string Root { get; }
    public MvtecSplit Split { get; }
    public override int Count => _items.Length;
    public override string PathOf(int index) => Path.Combine(Root, _items[index].Relative);
    public override string NameOf(int index) => _items[index].Relative.Replace('\\', '/');
    public override int LabelOf(int index) => _items[index].Defect == "good" ? 0 : 1;
    /// <summary>"good" or the defect type (the test folder name).</summary>
    public string DefectOf(int index) => _items[index].Defect;
    public IReadOnlyList<string> DefectTypes => _items.Select(i => i.Defect).Distinct().ToList();

    /// <summary>Path of the ground-truth mask of a test image (null for good images).</summary>
    public string? MaskPathOf(int index)
    {
        var (rel, defect) = _items[index];
        if (defect == "good") return null;
        return Path.Combine(Root, "ground_truth", defect, Path.GetFileNameWithoutExtension(rel) + "_mask.png");
    }

    /// <summary>
    /// The 0/1 anomaly mask of image <paramref name="index"/> as [Size, Size], with the same crop/resize geometry
    /// as the image and nearest-neighbour sampling (stays binary). Good images give all zeros. A mask pixel is a
    /// defect when any of its colour channels is non-zero, so 0/255 grayscale, 0/1 grayscale and coloured (e.g.
    /// red-on-black) masks all read correctly. A mask with no defect pixel in a defect folder is reported once
    /// through <see cref="ImageFileDataset.Notice"/>: its image would silently count as all-normal pixels.
    /// </summary>
    public void LoadMask(int index, Span<float> mask)
    {
        if (mask.Length != Size * Size) throw new ArgumentException($"mask buffer holds {mask.Length} values, needs {Size}x{Size}");
        var path = MaskPathOf(index);
        if (path is null) { mask.Clear(); return; }
        if (!File.Exists(path)) throw new UserError($"{path}: ground-truth mask missing for {NameOf(index)}");
        var img = ImageIO.Decode(path, 3, Options.MaxPixels);
        var defect = new byte[img.Width * img.Height];
        bool any = false;
        for (int i = 0; i < defect.Length; i++)
        {
            bool on = img.Pixels[3 * i] != 0 || img.Pixels[3 * i + 1] != 0 || img.Pixels[3 * i + 2] != 0;
            defect[i] = on ? (byte)255 : (byte)0;
            any |= on;
        }
        if (!any && _emptyMasksReported.TryAdd(index, true))
            Notice?.Invoke($"{path}: ground-truth mask is empty (no non-zero pixel) although {NameOf(index)} is in the defect folder '{DefectOf(index)}'; its pixels all count as normal");
        Resample.ToChw(defect, img.Width, img.Height, 1, mask, Size, Options.Resize, nearest: true);
        for (int i = 0; i < mask.Length; i++) mask[i] = mask[i] > 0 ? 1f : 0f;
    }

    public float[] LoadMask(int index)
    {
        var m = new float[Size * Size];
        LoadMask(index, m);
        return m;
    }
}
