using System.CommandLine;
using System.Text.Json.Nodes;
using NativeVq.Models.Training;
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

    public Option<double> Contamination { get; } = new("--contamination") { Description = "IDX one-vs-rest training only: replace this fraction P (0 ≤ P < 1) of the training images by images of the other classes (a seeded choice, recorded in config.json and data_split.json), to measure how a method copes with anomalies in its training data.", DefaultValueFactory = _ => 0.0 };
    public Option<ulong> ContaminationSeed { get; } = new("--contamination-seed") { Description = "Seed of the --contamination choice (which images are replaced, and by which).", DefaultValueFactory = _ => 1UL };

    public VolumeCliOptions Volumes { get; } = new();

    private bool _training;

    /// <param name="training">A train command: adds --contamination (the training set may be contaminated on purpose).</param>
    public void AddTo(Command c, bool training = false)
    {
        c.Options.Add(Data); c.Options.Add(Format); c.Options.Add(Size); c.Options.Add(Channels); c.Options.Add(NormalClass); c.Options.Add(Split); c.Options.Add(MaxPixels);
        if (training) { c.Options.Add(Contamination); c.Options.Add(ContaminationSeed); }
        _training = training;
        Volumes.AddTo(c);
    }

    /// <summary>--contamination and its seed as given (P = 0 when the command has no such option).</summary>
    public (double Fraction, ulong Seed) ContaminationOf(ParseResult r) => _training ? (r.GetValue(Contamination), r.GetValue(ContaminationSeed)) : (0, 0);

    /// <summary>What config.json records of a contaminated training set (null when it is clean).</summary>
    public static JsonObject? Describe(IImageDataset ds) => ds is ContaminatedDataset c
        ? new JsonObject { ["fraction"] = c.Fraction, ["seed"] = c.Seed, ["replaced"] = c.Replaced, ["images"] = c.Count }
        : null;

    public IImageDataset Open(ParseResult r)
    {
        var split = r.GetValue(Split)!;
        if (split is not ("train" or "test" or "all")) throw new UserError($"--split must be train, test or all, got '{split}'");
        var (fraction, seed) = ContaminationOf(r);
        var ds = OpenWith(r.GetValue(Data)!, r.GetValue(Format)!, r.GetValue(Size), r.GetValue(Channels), r.GetValue(NormalClass), split,
            r.GetValue(MaxPixels), msg => Console.Error.WriteLine($"note: {msg}"), Volumes.Options(r), fraction, seed);   // each kind of remark comes once from the dataset
        Console.Error.WriteLine($"data: {ds.Count} images, {ds.Channels}x{ds.Size}x{ds.Size}");
        if (ds is ContaminatedDataset c)
            Console.Error.WriteLine($"contamination: {c.Replaced} of {c.Count} images replaced by other classes (P = {c.Fraction.ToString(System.Globalization.CultureInfo.InvariantCulture)}, seed {c.Seed})");
        return ds;
    }

    /// <summary>What `eval` needs to reopen the images read with these options (written into the run's split file).</summary>
    public JsonObject Source(ParseResult r, IImageDataset opened)
    {
        var source = SourceOf(r, opened);
        if (opened is ContaminatedDataset c) source["contamination"] = new JsonObject { ["fraction"] = c.Fraction, ["seed"] = c.Seed };
        return source;
    }

    private JsonObject SourceOf(ParseResult r, IImageDataset opened) => new()
    {
        ["kind"] = "files",
        ["data"] = Path.GetFullPath(r.GetValue(Data)!),
        ["format"] = r.GetValue(Format),
        ["size"] = opened.Size,
        ["channels"] = opened.Channels,
        ["normal_class"] = r.GetValue(NormalClass),
        ["split"] = r.GetValue(Split),
        ["max_pixels"] = r.GetValue(MaxPixels),
    };

    /// <summary>Reopens the training images a run's split file describes (files, or the demo's generated textures).</summary>
    public static IImageDataset OpenSource(JsonObject source)
    {
        try
        {
            return source["kind"]!.GetValue<string>() switch
            {
                "synthetic" => new SyntheticTextures(source["count"]!.GetValue<int>(), source["size"]!.GetValue<int>(), source["seed"]!.GetValue<ulong>(),
                    texture: SyntheticTextures.ParseKind(source["texture"]?.GetValue<string>() ?? "stripes", $"{CalibrationSplit.FileName}: texture")),
                "files" => OpenWith(source["data"]!.GetValue<string>(), source["format"]!.GetValue<string>(), source["size"]!.GetValue<int>(),
                    source["channels"]!.GetValue<int>(), source["normal_class"]?.GetValue<int>(), source["split"]!.GetValue<string>(),
                    source["max_pixels"]!.GetValue<long>(), _ => { }, null,
                    source["contamination"]?["fraction"]?.GetValue<double>() ?? 0, source["contamination"]?["seed"]?.GetValue<ulong>() ?? 0),
                var k => throw new UserError($"{CalibrationSplit.FileName}: unknown data kind '{k}'"),
            };
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new UserError($"{CalibrationSplit.FileName}: the data source is not valid ({e.Message})");
        }
    }

    private static IImageDataset OpenWith(string data, string format, int size, int channels, int? normalClass, string split, long maxPixels, Action<string> notice,
        VolumeOptions? volume = null, double contamination = 0, ulong contaminationSeed = 0)
    {
        if (contamination != 0)
        {
            if (!(contamination > 0 && contamination < 1)) throw new UserError($"--contamination must be in [0, 1), got {contamination.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
            var fmt = format is "auto" ? DatasetFactory.Detect(data) : format;
            if (fmt != "idx")
                throw new UserError($"--contamination replaces training images by images of other classes, which needs labelled IDX data with --normal-class; {data} is {(fmt == "mvtec" ? "an MVTec category" : fmt == "nifti" ? "a folder of volumes" : "a folder of images")}, which has no classes");
            if (normalClass is null) throw new UserError("--contamination needs --normal-class: the other classes are what contaminates the normal one");
            if (split != "train") throw new UserError($"--contamination applies to training data (--split train), not --split {split}");
        }
        var ds = DatasetFactory.Open(data, new DatasetOptions
        {
            Format = format,
            Size = size,
            Channels = channels,
            NormalClass = normalClass,
            MaxPixels = maxPixels,
            Volume = volume,
            Split = split == "test" ? "test" : "train",
            Notice = notice,
        });
        if (ds is IdxDataset && split != "all")
        {
            var (first, second) = ds.SplitPerLabel(0.8);
            ds = split == "train" ? first : second;
        }
        if (contamination > 0)
        {
            // The replacements come from the other classes' training part (first 80 %), never from the test part eval uses.
            var everything = DatasetFactory.Open(data, new DatasetOptions { Format = "idx", Size = size, Channels = channels, MaxPixels = maxPixels, Split = "train" });
            var pool = everything.SplitPerLabel(0.8).First.Where(label => label != normalClass);
            ds = ContaminatedDataset.Create(ds, pool, contamination, contaminationSeed);
        }
        return ds;
    }
}
