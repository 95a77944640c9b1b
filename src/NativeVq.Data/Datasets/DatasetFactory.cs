namespace NativeVq.Data;

/// <summary>Everything <see cref="DatasetFactory.Open(string, DatasetOptions)"/> needs; the CLI maps its options onto this.</summary>
public sealed record DatasetOptions
{
    /// <summary>"folder", "mvtec", "idx", "nifti", or null/"auto" to detect from the path.</summary>
    public string? Format { get; init; }
    public int Size { get; init; } = 64;
    /// <summary>1 or 3; 0 = detect (IDX: 1; images: 3 if the first image is colour, else 1).</summary>
    public int Channels { get; init; } = 0;
    /// <summary>MVTec split: "train" or "test".</summary>
    public string Split { get; init; } = "train";
    public ResizeMode Resize { get; init; } = ResizeMode.CropResize;
    public long MaxPixels { get; init; } = ImageLoadOptions.DefaultMaxPixels;
    /// <summary>IDX: keep only this class.</summary>
    public int? NormalClass { get; init; }
    /// <summary>IDX: drop this class.</summary>
    public int? ExcludeClass { get; init; }
    public IdxFit IdxFit { get; init; } = IdxFit.Auto;
    /// <summary>IDX: which pair in a folder holding several (e.g. "train", "t10k").</summary>
    public string? IdxPrefix { get; init; }
    public Action<string>? Notice { get; init; }
    /// <summary>NIfTI volumes: slice axis, intensity window, empty-slice skipping, voxel limit.</summary>
    public Volumes.VolumeOptions Volume { get; init; } = new();
}

public static class DatasetFactory
{
    public static readonly string[] Formats = ["folder", "mvtec", "idx", "nifti"];

    /// <summary>
    /// Opens a dataset. Detection (when <see cref="DatasetOptions.Format"/> is not given): an IDX images file, or a
    /// folder holding one, is "idx"; a folder with train/good (an MVTec category) is "mvtec"; a folder holding .nii /
    /// .nii.gz volumes and no images is "nifti"; anything else "folder".
    /// </summary>
    public static IImageDataset Open(string path, DatasetOptions o)
    {
        var format = o.Format is null or "auto" ? Detect(path) : o.Format.ToLowerInvariant();
        if (o.NormalClass is not null && format != "idx")
            throw new UserError($"{path}: --normal-class selects a digit class of IDX data; this is {(format == "mvtec" ? "an MVTec category" : "a folder of images")}, which has no classes (drop --normal-class)");
        switch (format)
        {
            case "idx":
                if (o.NormalClass is int c && c is < 0 or > 9) throw new UserError($"normal class must be a digit 0-9, got {c}");
                return IdxDataset.Open(path, o.Size, o.Channels == 0 ? 1 : o.Channels, o.NormalClass, o.ExcludeClass, o.IdxFit, o.IdxPrefix);
            case "mvtec":
            {
                var split = o.Split.ToLowerInvariant() switch
                {
                    "train" => MvtecSplit.Train,
                    "test" => MvtecSplit.Test,
                    _ => throw new UserError($"MVTec split must be train or test, not '{o.Split}'"),
                };
                var probe = o.Channels == 0 ? new MvtecDataset(path, split, ImageOptions(o, 1)) : null;
                int ch = o.Channels == 0 ? ProbeChannels(probe!.PathOf(0), o.MaxPixels) : o.Channels;
                return new MvtecDataset(path, split, ImageOptions(o, ch), o.Notice);
            }
            case "nifti":
                if (o.Channels is not (0 or 1)) throw new UserError($"NIfTI volumes are grayscale: channels must be 1 (or 0 = detect), not {o.Channels}");
                return new VolumeDataset(path, o.Size, o.Volume);
            case "folder":
            {
                var probe = o.Channels == 0 ? new FolderDataset(path, ImageOptions(o, 1)) : null;
                int ch = o.Channels == 0 ? ProbeChannels(probe!.PathOf(0), o.MaxPixels) : o.Channels;
                return new FolderDataset(path, ImageOptions(o, ch), o.Notice);
            }
            default:
                throw new UserError($"unknown dataset format '{o.Format}' (expected {string.Join(", ", Formats)} or auto)");
        }
    }

    public static IImageDataset Open(string path, string? format, int size, int channels, DatasetOptions? rest = null)
        => Open(path, (rest ?? new DatasetOptions()) with { Format = format, Size = size, Channels = channels });

    public static string Detect(string path)
    {
        if (File.Exists(path))
        {
            if (IdxDataset.IsImagesFile(path)) return "idx";
            throw new UserError($"{path}: is a file; give a folder of images, an MVTec category folder or an IDX images file");
        }
        if (!Directory.Exists(path)) throw new UserError($"{path}: folder not found");
        if (Directory.GetFiles(path).Any(f => IdxDataset.IsImagesFile(f))) return "idx";
        if (MvtecDataset.IsCategory(path)) return "mvtec";
        if (VolumeDataset.HoldsVolumes(path) && !HoldsImages(path)) return "nifti";
        return "folder";
    }

    private static bool HoldsImages(string dir)
        => Directory.EnumerateFiles(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true })
            .Any(f => ImageFileDataset.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()));

    private static ImageLoadOptions ImageOptions(DatasetOptions o, int channels)
        => new() { Size = o.Size, Channels = channels, Resize = o.Resize, MaxPixels = o.MaxPixels };

    /// <summary>1 for a grayscale first image, 3 for colour (header only).</summary>
    private static int ProbeChannels(string path, long maxPixels) => ImageIO.ReadInfo(path, maxPixels).Channels >= 3 ? 3 : 1;
}
