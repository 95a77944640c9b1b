using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>`nativevq train prior`, `nativevq nll` and `nativevq sample`.</summary>
internal static class PriorCommands
{
    public const string CodeCacheName = "codes_cache.nvq";

    public static Command Train()
    {
        var data = new DataOptions();
        var vqvae = Cli.Required<string>("--vqvae", "Run folder of a trained VQ-VAE; the prior is written into the same folder (prior.nvq, prior_metrics.jsonl, calibration.json).");
        var recipe = new Option<string>("--recipe") { Description = "Settings of the options below that are not given: default (the measured best, docs/results.md: the seeds' settings with the best held-out epoch kept) or seeds (the seeds' exact recipe: 30 epochs, constant rate, no dropout, no weight decay, no augmentation, last epoch kept).", DefaultValueFactory = _ => "default" };
        var epochs = new Option<int?>("--epochs") { Description = $"Passes over the code maps (default {PriorRecipe.Default.Epochs})." };
        var batch = new Option<int>("--batch") { Description = "Code maps per optimizer step.", DefaultValueFactory = _ => 32 };
        var lr = new Option<float>("--lr") { Description = "Adam learning rate.", DefaultValueFactory = _ => 3e-4f };
        var schedule = new Option<string?>("--schedule") { Description = $"Learning-rate schedule: none, cosine (to 0 at the end) or step (x0.1 at 50 % and 75 %) (default {PriorRecipe.Default.Schedule})." };
        var weightDecay = new Option<float?>("--weight-decay") { Description = $"AdamW's decoupled weight decay: each step multiplies the weights by 1 - lr * this (default {PriorRecipe.Default.WeightDecay})." };
        var patience = new Option<int?>("--patience") { Description = $"Stop early when the held-out NLL has not improved for this many epochs; 0 = never (default {PriorRecipe.Default.Patience})." };
        var keepBest = new Option<bool?>("--keep-best") { Description = $"Keep the weights of the epoch with the lowest held-out NLL instead of the last; --keep-best false keeps the last, as the seeds did (default {PriorRecipe.Default.KeepBest.ToString().ToLowerInvariant()}; seeds false). A kept earlier epoch cannot be resumed." };
        var augment = new Option<string?>("--augment") { Description = $"Transforms of the training images before encoding: auto (IDX digits: shifts of size/16 px only, since flips and rotations change digits; image folders and MVTec: flips, 90-degree rotations and shifts), none, or a comma list of flip, rot90, shiftN (default {PriorRecipe.Default.Augment})." };
        var augmentCopies = new Option<int?>("--augment-copies") { Description = $"Augmented versions encoded per training image; each epoch shows every image once in one of its versions (default {PriorRecipe.Default.AugmentCopies})." };
        var heldOut = new Option<float>("--held-out") { Description = "Share of the images held out (never trained on) for the held-out NLL, early stopping and threshold calibration, for runs without a data_split.json (runs made by train vqvae hold out its calibration images instead).", DefaultValueFactory = _ => 0.1f };
        var lambdaP = new Option<double>("--lambda-percentile") { Description = "Sample-score threshold λ = this percentile of held-out per-code NLLs (MOOD: ~98).", DefaultValueFactory = _ => 98.0 };
        var tauP = new Option<double>("--tau-percentile") { Description = "Resampling threshold τ = this percentile of held-out per-code NLLs (MOOD: ~90).", DefaultValueFactory = _ => 90.0 };
        var resume = new Option<bool>("--resume") { Description = "Continue the prior in --vqvae from its checkpoint." };
        var maxSteps = new Option<int>("--max-steps") { Description = "Stop after this many steps in total, with a checkpoint (0 = all epochs).", DefaultValueFactory = _ => 0 };
        var allowChanged = Cli.AllowChangedOptions();
        var channels = new Option<int?>("--prior-channels") { Description = "PixelSNAIL channels (default 64 for grids up to 8x8, 128 above): fewer for small training sets." };
        var blocks = new Option<int?>("--prior-blocks") { Description = "PixelSNAIL stages of res blocks + attention (default 2 up to 8x8, 4 above)." };
        var resBlocks = new Option<int?>("--prior-res-blocks") { Description = "Gated res blocks per stage (default 2 up to 8x8, 4 above)." };
        var dropout = new Option<float?>("--prior-dropout") { Description = $"Dropout in the gated residual blocks (default {PriorRecipe.Default.Dropout})." };
        var device = Cli.Device();
        var seed = Cli.Seed();
        var profile = Cli.Profile();
        var quiet = Cli.Quiet();
        var cmd = new Command("prior", "Train the PixelSNAIL prior over a VQ-VAE's code maps (encodes the data once, cached in the run folder), then report training and held-out NLL.");
        data.AddTo(cmd, training: true);
        foreach (var o in new Option[] { vqvae, recipe, epochs, batch, lr, schedule, weightDecay, patience, keepBest, augment, augmentCopies, heldOut, lambdaP, tauP, resume, allowChanged, maxSteps, channels, blocks, resBlocks, dropout, device, seed, profile, quiet }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(r, r.GetValue(profile), () =>
        {
            ProgressBar.Silent = r.GetValue(quiet);
            var rec = PriorRecipe.Named(r.GetValue(recipe)!);
            string runDir = r.GetValue(vqvae)!;
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            var vq = ModelStore.LoadVqVae(runDir, backend);
            using var runLock = RunLock.Acquire(runDir, $"--vqvae {runDir}");
            var ds = data.Open(r);
            var maps = EncodeCached(r, data, runDir, vq, backend, ds, CodeCacheName, new JsonObject());
            float share = r.GetValue(heldOut);
            if (share is < 0f or >= 1f) throw new UserError($"--held-out must be in [0, 1), got {share}");
            int[] heldIdx, trainIdx;
            if (CalibrationSplit.Read(runDir) is { } split)
            {
                // The VQ-VAE's calibration images: held out from both models, so NLLs and thresholds come from unseen images.
                if (maps.Count != split.Total)
                    throw new UserError($"--data gives {maps.Count} images but {CalibrationSplit.FileName} in {runDir} was made on {split.Total}: pass the data `train vqvae` used");
                // A contaminated VQ-VAE's prior must see the same contaminated images (the counts alone match either way).
                var want = split.Source["contamination"]?.ToJsonString() ?? "none";
                var got = data.Source(r, ds)["contamination"]?.ToJsonString() ?? "none";
                if (want != got)
                    throw new UserError($"train prior: {CalibrationSplit.FileName} in {runDir} records contamination {want} but these options give {got}: pass the --contamination and --contamination-seed `train vqvae` used");
                heldIdx = split.Calibration;
                trainIdx = split.TrainingIndices();
                share = (float)split.Calibration.Length / Math.Max(1, maps.Count);
            }
            else
            {
                var order = Enumerable.Range(0, maps.Count).ToArray();
                new Rng(r.GetValue(seed) ^ 0x5DEECE66DUL).Shuffle(order);
                int nHeld = (int)Math.Round(share * maps.Count);
                heldIdx = order.Take(nHeld).ToArray();
                trainIdx = order.Skip(nHeld).ToArray();
            }
            var held = maps.Take(heldIdx);
            var train = maps.Take(trainIdx);

            int copies = r.GetValue(augmentCopies) ?? rec.AugmentCopies;
            if (copies < 0) throw new UserError($"--augment-copies must be ≥ 0, got {copies}");
            var aug = AugmentOptions.None;
            if (copies > 0)
            {
                string format = r.GetValue(data.Format) is string f && f != "auto" ? f : DatasetFactory.Detect(r.GetValue(data.Data)!);
                aug = PriorRecipe.ResolveAugment(r.GetValue(augment) ?? rec.Augment, format, ds.Size);
                if (aug.IsNone) copies = 0;
            }
            if (copies > 0)
            {
                // Only the training images are augmented: the held-out images stay unseen in every version.
                var augmented = new AugmentedDataset(new SubsetDataset(ds, trainIdx), copies, aug, r.GetValue(seed));
                train = train.Concat(EncodeCached(r, data, runDir, vq, backend, augmented, AugmentCacheName, new JsonObject
                {
                    ["augment"] = aug.ToString(),
                    ["copies"] = copies,
                    ["held_out"] = share,
                    ["seed"] = r.GetValue(seed),
                }, "encode augmented"));
            }
            Console.Error.WriteLine($"prior: {trainIdx.Length} training and {held.Count} held-out code maps of {maps.Height}x{maps.Width}" +
                (copies > 0 ? $", {copies} augmented versions of each training image ({aug})" : ", no augmentation"));
            var cfg = PixelSnailConfig.ForGrid(vq.Config.CodebookSize, maps.Height, maps.Width);
            cfg = cfg with
            {
                Channels = r.GetValue(channels) ?? cfg.Channels,
                Blocks = r.GetValue(blocks) ?? cfg.Blocks,
                ResBlocks = r.GetValue(resBlocks) ?? cfg.ResBlocks,
                Dropout = r.GetValue(dropout) ?? rec.Dropout,
            };
            cfg.Validate();
            var trainer = new PriorTrainer(backend, train, held, cfg, new PriorTrainOptions
            {
                Out = runDir,
                Epochs = r.GetValue(epochs) ?? rec.Epochs,
                Batch = r.GetValue(batch),
                Lr = r.GetValue(lr),
                Schedule = r.GetValue(schedule) ?? rec.Schedule,
                WeightDecay = r.GetValue(weightDecay) ?? rec.WeightDecay,
                Patience = r.GetValue(patience) ?? rec.Patience,
                KeepBest = r.GetValue(keepBest) ?? rec.KeepBest,
                Versions = 1 + copies,
                Seed = r.GetValue(seed),
                Resume = r.GetValue(resume),
                AllowChangedOptions = r.GetValue(allowChanged),
                MaxSteps = r.GetValue(maxSteps),
                HeldOut = share,
                LambdaPercentile = r.GetValue(lambdaP),
                TauPercentile = r.GetValue(tauP),
            })
            {
                Progress = new ConsoleProgress(),
                Notice = ConsoleProgress.Notice,
            };
            // A retrained prior makes the stored calibration scores stale.
            new RunDirectory(runDir, create: false).Delete(Anomaly.Scoring.ImageScoreCalibration.FileName);
            trainer.Run();
            if (trainer.Result is { } res)
            {
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"prior NLL per code: training {res.TrainNll:F3} nats, held-out {res.HeldOutNll:F3} nats ({(res.HeldOutNll / res.TrainNll - 1) * 100:+0.0;-0.0} %); " +
                    $"kept epoch {res.BestEpoch} of {res.EpochsRun}{(res.StoppedEarly ? " (stopped early)" : "")}"));
                if (res.Memorised)
                    Console.Error.WriteLine($"warning: the held-out NLL is not within {PriorTrainResult.MemorisationTolerance * 100:0} % of the training NLL: the prior memorised its training maps, and a memorised prior scores noise. " +
                        "Try more augmentation (--augment, --augment-copies), --prior-dropout, --weight-decay, a smaller prior (--prior-channels, --prior-blocks) or more normal images.");
            }
            Console.Error.WriteLine($"prior written to {Path.Combine(runDir, PriorTrainer.CheckpointName)}");
            if (trainer.Result is not null && !CalibrateCommand.Write(runDir, backend, new Anomaly.Scoring.ScoringOptions(), Anomaly.Scoring.RestorerFactory.Fast(), maps: true))
                Console.Error.WriteLine($"note: no {Anomaly.Scoring.ImageScoreCalibration.FileName} written (the run has no calibration images): score will rank by the seeds' score with calibration.json's threshold");
            return 0;
        }));
        return cmd;
    }

    public const string AugmentCacheName = "codes_augmented_cache.nvq";

    /// <summary>Encodes <paramref name="ds"/> with the VQ-VAE, or reuses the cache made from the same data, settings and checkpoint.</summary>
    private static CodeMaps EncodeCached(ParseResult r, DataOptions data, string runDir, VqVae vq, Backend backend, IImageDataset ds, string cacheName, JsonObject extra, string label = "encode")
    {
        var ckpt = new FileInfo(Path.Combine(runDir, VqVaeTrainer.CheckpointName));
        var source = new JsonObject
        {
            ["data"] = Path.GetFullPath(r.GetValue(data.Data)!),
            ["format"] = r.GetValue(data.Format),
            ["size"] = r.GetValue(data.Size),
            ["channels"] = r.GetValue(data.Channels),
            ["normal_class"] = r.GetValue(data.NormalClass),
            ["volumes"] = data.Volumes.Key(r),
            ["split"] = r.GetValue(data.Split),
            ["vqvae_bytes"] = ckpt.Length,
            ["vqvae_time"] = ckpt.LastWriteTimeUtc.Ticks,
        };
        foreach (var kv in extra) source[kv.Key] = kv.Value?.DeepClone();
        var cache = Path.Combine(runDir, cacheName);
        if (CodeMaps.SourceOf(cache) is JsonObject old && JsonNode.DeepEquals(old, source))
        {
            Console.Error.WriteLine($"codes: reusing {cache}");
            return CodeMaps.Load(cache);
        }
        var maps = CodeMaps.Encode(vq, ds, backend, label: label, progress: new ConsoleProgress());
        maps.Save(cache, source);
        return maps;
    }

    public static Command Nll()
    {
        var model = Cli.Required<string>("--model", "Run folder with vqvae.nvq and prior.nvq.");
        var input = Cli.Required<string>("--input", "An image, or a folder of images (recursive).");
        var output = Cli.Required<string>("--out", "JSON file to write: per image the code map, the per-code NLL map (nats) and their sum; heat maps of the NLL grid go to <out>_maps/.");
        var device = Cli.Device();
        var cmd = new Command("nll", "Per-code negative log-likelihood of images under the prior (teacher-forced, one pass per image batch).");
        foreach (var o in new Option[] { model, input, output, device }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(r, false, () =>
        {
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            string runDir = r.GetValue(model)!;
            var vq = ModelStore.LoadVqVae(runDir, backend);
            var prior = ModelStore.LoadPrior(runDir, backend);
            var ds = OpenInputs(r.GetValue(input)!, vq);
            var maps = CodeMaps.Encode(vq, ds, backend, progress: new ConsoleProgress());
            var nll = PriorTrainer.NllPerCode(prior, maps, backend);
            string outPath = r.GetValue(output)!;
            string mapDir = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!, Path.GetFileNameWithoutExtension(outPath) + "_maps");
            OutputPath.CreateFolder(mapDir, $"--out {outPath}");
            var arr = new JsonArray();
            int hw = maps.PerMap;
            float hi = nll.Length > 0 ? nll.Max() : 1f;
            for (int i = 0; i < maps.Count; i++)
            {
                var grid = nll.AsSpan(i * hw, hw);
                var png = Path.Combine(mapDir, $"{i:D5}.png");
                var heat = HeatMap.Colorize(grid, maps.Height, maps.Width, 0f, hi);
                ImageIO.SavePng(png, Upsample(heat, 16));
                arr.Add(new JsonObject
                {
                    ["image"] = ds.NameOf(i),
                    ["total_nll"] = grid.ToArray().Sum(v => (double)v),
                    ["max_nll"] = grid.ToArray().Max(),
                    ["codes"] = Rows(maps.Codes.AsSpan(i * hw, hw).ToArray().Select(v => (JsonNode)v), maps.Width),
                    ["nll"] = Rows(grid.ToArray().Select(v => (JsonNode)Math.Round(v, 4)), maps.Width),
                    ["heat_map"] = png,
                });
            }
            var json = new JsonObject { ["unit"] = "nats", ["images"] = arr }.ToJsonString(RunDirectory.Json);
            ImageIO.WriteAtomic(outPath, s => s.Write(System.Text.Encoding.UTF8.GetBytes(json)));
            Console.Error.WriteLine($"per-code NLL of {maps.Count} images written to {outPath}, heat maps to {mapDir}");
            return 0;
        }));
        return cmd;
    }

    public static Command Sample()
    {
        var model = Cli.Required<string>("--model", "Run folder with vqvae.nvq and prior.nvq.");
        var count = new Option<int>("--count") { Description = "Images to sample.", DefaultValueFactory = _ => 16 };
        var temperature = new Option<float>("--temperature") { Description = "Softmax temperature (below 1: safer, less varied samples).", DefaultValueFactory = _ => 1f };
        var output = Cli.Required<string>("--out", "PNG grid of the decoded samples.");
        var device = Cli.Device();
        var seed = Cli.Seed();
        var cmd = new Command("sample", "Draw code maps from the prior and decode them with the VQ-VAE: a look at what the prior learned.");
        foreach (var o in new Option[] { model, count, temperature, output, device, seed }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(r, false, () =>
        {
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            string runDir = r.GetValue(model)!;
            var vq = ModelStore.LoadVqVae(runDir, backend);
            var prior = ModelStore.LoadPrior(runDir, backend);
            int n = r.GetValue(count);
            if (n < 1) throw new UserError($"--count must be at least 1, got {n}");
            float t = r.GetValue(temperature);
            if (t <= 0) throw new UserError($"--temperature must be positive, got {t}");
            var codes = PriorSampler.Sample(prior, n, new Rng(r.GetValue(seed)), t);
            using var scope = new TensorScope();
            using var _ = Autograd.NoGrad();
            var img = vq.DecodeCodes(Tensor.FromArray(backend, codes, n, prior.Config.Height, prior.Config.Width)).ToArray();
            for (int i = 0; i < img.Length; i++) img[i] = Math.Clamp(img[i], -1f, 1f);
            int c = vq.Config.ImageChannels, s = vq.Config.ImageSize;
            var tiles = Enumerable.Range(0, n).Select(i => ImageF.FromBatch(img, i, c, s, s)).ToList();
            ImageIO.SavePng(r.GetValue(output)!, ImageGrid.Tile(tiles, (int)Math.Ceiling(Math.Sqrt(n))));
            Console.Error.WriteLine($"{n} samples written to {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>An image file or a folder, shaped like the VQ-VAE's input.</summary>
    internal static IImageDataset OpenInputs(string path, VqVae vq) => OpenInputs(path, vq.Config.ImageSize, vq.Config.ImageChannels);

    internal static IImageDataset OpenInputs(string path, int size, int channels)
    {
        var opts = new DatasetOptions { Size = size, Channels = channels };
        if (File.Exists(path) && !IdxDataset.IsImagesFile(path))
            return new SingleImage(path, opts);
        return DatasetFactory.Open(path, opts);
    }

    private static JsonArray Rows(IEnumerable<JsonNode> values, int width)
        => new(values.Chunk(width).Select(row => (JsonNode)new JsonArray(row.ToArray())).ToArray());

    private static ImageF Upsample(ImageF img, int f)
    {
        var o = new ImageF(img.Channels, img.Height * f, img.Width * f);
        for (int c = 0; c < img.Channels; c++)
            for (int y = 0; y < o.Height; y++)
                for (int x = 0; x < o.Width; x++)
                    o.Data[(c * o.Height + y) * o.Width + x] = img.Data[(c * img.Height + y / f) * img.Width + x / f];
        return o;
    }

    /// <summary>One image file as a dataset of one.</summary>
    private sealed class SingleImage(string path, DatasetOptions o) : IImageDataset
    {
        public int Count => 1;
        public int Channels => o.Channels;
        public int Size => o.Size;
        public void Load(int index, Span<float> chw) => ImageIO.LoadInto(path, chw, new ImageLoadOptions { Size = o.Size, Channels = o.Channels, MaxPixels = o.MaxPixels });
        public string NameOf(int index) => path;
        public int LabelOf(int index) => -1;
    }
}
