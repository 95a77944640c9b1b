using NativeVq.Data;

namespace NativeVq.Anomaly.Evaluation;

/// <summary>A labelled test set: images, a defect type per image ("good" = normal) and, where known, pixel masks.</summary>
public sealed class EvalSet
{
    private readonly Func<int, float[]?> _mask;

    public EvalSet(string description, IImageDataset data, IReadOnlyList<string> defects, Func<int, float[]?> mask)
    {
        if (defects.Count != data.Count) throw new ArgumentException("one defect label per image");
        Description = description;
        Data = data;
        Defects = defects;
        _mask = mask;
    }

    public string Description { get; }
    public IImageDataset Data { get; }
    public IReadOnlyList<string> Defects { get; }
    public bool HasMasks { get; init; }

    /// <summary>Ground truth [size·size] with 1 for anomalous pixels, or null (normal image / no mask).</summary>
    public float[]? Mask(int index) => _mask(index);

    /// <summary>MVTec AD category: the test split with its defect folders and ground-truth masks.</summary>
    public static EvalSet Mvtec(MvtecDataset test) => new($"MVTec AD {test.Root} (test)", test,
        Enumerable.Range(0, test.Count).Select(test.DefectOf).ToArray(),
        i => test.DefectOf(i) == "good" ? null : test.LoadMask(i)) { HasMasks = true };

    /// <summary>MNIST one-vs-rest: the held-out 20 % of every class; the normal class is "good", the others "digitN".</summary>
    public static EvalSet OneVsRest(IImageDataset allDigits, int normalClass)
    {
        var (_, test) = allDigits.SplitPerLabel(0.8);
        // One-vs-rest needs both sides: without them AUROC is undefined (NaN), which must not pass as a result.
        var present = Enumerable.Range(0, test.Count).Select(test.LabelOf).Distinct().Order().ToList();
        if (!present.Contains(normalClass))
            throw new UserError($"--normal-class {normalClass}: the test data holds no image of class {normalClass} (classes present: {string.Join(", ", present)})");
        if (present.Count < 2)
            throw new UserError($"--normal-class {normalClass}: the test data holds only class {normalClass}, so there is nothing anomalous to evaluate");
        return new EvalSet($"MNIST one-vs-rest, normal class {normalClass} (held-out 20 % of each class)", test,
            Enumerable.Range(0, test.Count).Select(i => test.LabelOf(i) == normalClass ? "good" : $"digit{test.LabelOf(i)}").ToArray(),
            _ => null);
    }

    /// <summary>Generated textures with scratches and spots (the demo's test set), masks included.</summary>
    public static EvalSet Synthetic(SyntheticTextures t) => new($"synthetic textures ({t.Count}, seed-generated)", t,
        Enumerable.Range(0, t.Count).Select(t.DefectOf).ToArray(),
        i => t.LabelOf(i) == 0 ? null : t.LoadMask(i)) { HasMasks = true };

    /// <summary>A folder with one subfolder per type: "good" for normal images, any other name a defect type.</summary>
    public static EvalSet Folder(FolderDataset folder) => new($"folder {folder.Root}", folder,
        Enumerable.Range(0, folder.Count).Select(i => TopFolder(folder.NameOf(i))).ToArray(), _ => null);

    private static string TopFolder(string relative)
    {
        int slash = relative.IndexOf('/');
        if (slash < 0) throw new UserError($"evaluating a plain folder needs subfolders good/ and <defect>/; {relative} is at the top level");
        return relative[..slash];
    }
}
