using System.CommandLine;
using NativeVq.Data;
using NativeVq.Data.Volumes;

namespace NativeVq.Cli.Commands;

/// <summary>The options that say which images to read and how to shape them.</summary>
internal sealed class DataOptions
{
    public Option<string> Data { get; } = Cli.Required<string>("--data", "Images to read: a folder (searched recursively), an MVTec AD category folder, MNIST IDX files (a *-images-idx3-ubyte[.gz] file or the folder holding it), or a folder of NIfTI-1 volumes (.nii/.nii.gz, read as 2D slices).");
    public Option<string> Format { get; } = new("--format") { Description = "Data layout: auto, folder, mvtec, idx or nifti (a folder of volumes; see docs/volumes.md).", DefaultValueFactory = _ => "auto" };
    public Option<int> Size { get; } = new("--size") { Description = "Images are resized (and centre-cropped to a square) to this many pixels per side; MNIST's 28x28 is zero-padded to 32.", DefaultValueFactory = _ => 32 };
    public Option<int> Channels { get; } = new("--channels") { Description = "1 (grayscale) or 3 (RGB); 0 detects from the first image. Images of the other kind are converted (said once).", DefaultValueFactory = _ => 0 };
    public Option<int?> NormalClass { get; } = new("--normal-class") { Description = "IDX data: keep only this digit class (the normal class of the one-vs-rest protocol)." };
    public Option<string> Split { get; } = new("--split") { Description = "Which part to use: train (MVTec train/good; IDX the first 80 % of each class), test (MVTec test/; IDX the other 20 %), or all.", DefaultValueFactory = _ => "train" };
    public Option<long> MaxPixels { get; } = new("--max-pixels") { Description = "Refuse images with more pixels than this before decoding them.", DefaultValueFactory = _ => ImageLoadOptions.DefaultMaxPixels };

    public VolumeCliOptions Volumes { get; } = new();

    public void AddTo(Command c)
    {
        c.Options.Add(Data); c.Options.Add(Format); c.Options.Add(Size); c.Options.Add(Channels); c.Options.Add(NormalClass); c.Options.Add(Split); c.Options.Add(MaxPixels);
        Volumes.AddTo(c);
    }

    public IImageDataset Open(ParseResult r)
    {
        bool said = false;
        var split = r.GetValue(Split)!;
        if (split is not ("train" or "test" or "all")) throw new UserError($"--split must be train, test or all, got '{split}'");
        var ds = DatasetFactory.Open(r.GetValue(Data)!, new DatasetOptions
        {
            Format = r.GetValue(Format),
            Size = r.GetValue(Size),
            Channels = r.GetValue(Channels),
            NormalClass = r.GetValue(NormalClass),
            MaxPixels = r.GetValue(MaxPixels),
            Volume = Volumes.Options(r),
            Split = split == "test" ? "test" : "train",
            Notice = msg => { if (!said) { said = true; Console.Error.WriteLine($"note: {msg}"); } },
        });
        if (ds is IdxDataset && split != "all")
        {
            var (first, second) = ds.SplitPerLabel(0.8);
            ds = split == "train" ? first : second;
        }
        Console.Error.WriteLine($"data: {ds.Count} images, {ds.Channels}x{ds.Size}x{ds.Size}");
        return ds;
    }
}
