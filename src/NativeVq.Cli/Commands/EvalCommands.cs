using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using NativeVq.Anomaly;
using NativeVq.Anomaly.Evaluation;
using NativeVq.Anomaly.Runs;
using NativeVq.Anomaly.Scoring;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>`nativevq eval` (metrics + HTML report on a labelled test set) and `nativevq score` (new images).</summary>
internal static class EvalCommands
{
    public static Command Eval()
    {
        var model = Cli.Required<string>("--model", "Run folder: a VQ-VAE run (vqvae.nvq, prior.nvq, calibration.json) or a VAE / GAN run (its config.json says which; --image-score then picks among that model's scores).");
        var data = Cli.Required<string>("--data", "Test data: an MVTec AD category (test/<defect>/, ground_truth/), MNIST IDX files (with --normal-class: the held-out 20 % of every class), or a folder with good/ and <defect>/ subfolders.");
        var format = new Option<string>("--format") { Description = "auto, mvtec, idx or folder.", DefaultValueFactory = _ => "auto" };
        var normalClass = new Option<int?>("--normal-class") { Description = "IDX one-vs-rest: the normal digit; every other class is anomalous." };
        var output = Cli.Required<string>("--out", "Report folder: metrics.json, baseline_metrics.json, index.html (self-contained; open it in a browser).");
        var limit = new Option<int>("--limit") { Description = "Score a seeded random subset of this many test images (0 = all).", DefaultValueFactory = _ => 0 };
        var noMaps = new Option<bool>("--no-maps") { Description = "Image scores only: skip the restorations and pixel maps (much faster)." };
        var thresholdP = new Option<double>("--threshold-percentile") { Description = "Decision threshold = this percentile of the image scores of the run's calibration images (normal images neither model trained on; expected false-positive rate 1 − p/100).", DefaultValueFactory = _ => 95.0 };
        var noBaselines = new Option<bool>("--no-baselines") { Description = "Skip the no-network baselines (local-statistics Gaussian, nearest raw patch) fitted on the run's training images." };
        var maxRows = new Option<int>("--report-rows") { Description = "Most image rows in index.html.", DefaultValueFactory = _ => 200 };
        var scoring = new ScoringCliOptions();
        var device = Cli.Device();
        var seed = Cli.Seed();
        var profile = Cli.Profile();
        var volumes = new VolumeCommandOptions();
        var cmd = new Command("eval", "Evaluate a trained run on a labelled test set: image AUROC/AP (image score, reconstruction error and two no-network baselines), pixel AUROC, AUPRO, F1-max, per defect type, expected vs measured false-positive rate; writes an HTML report. With --volumes: NIfTI volumes, sample and voxel AP/AUROC.");
        foreach (var o in new Option[] { model, data, format, normalClass, output, limit, noMaps, noBaselines, thresholdP, maxRows, device, seed, profile }) cmd.Options.Add(o);
        scoring.AddTo(cmd);
        volumes.AddTo(cmd, labels: true);
        cmd.SetAction(r => Cli.Run(r, r.GetValue(profile), () =>
        {
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            string runDir = r.GetValue(model)!;
            if (r.GetValue(volumes.Volumes))
                return VolumeCommands.Eval(r, volumes, scoring, runDir, r.GetValue(data)!, r.GetValue(output)!, backend, r.GetValue(seed));
            if (RunScorers.Open(runDir, backend) is { } other)
            {
                using var otherLock = RunLock.Acquire(r.GetValue(output)!, $"--out {r.GetValue(output)}");
                var otherSet = OpenEvalSet(r.GetValue(data)!, r.GetValue(format)!, r.GetValue(normalClass), other.ImageSize, other.Channels);
                var otherRun = RunEvaluation.Run(other, otherSet, OpenReference(runDir, other.ImageSize, other.Channels), scoring.ExplicitImageScore(r), new EvaluationSettings
                {
                    Maps = !r.GetValue(noMaps),
                    ThresholdPercentile = r.GetValue(thresholdP),
                    Limit = r.GetValue(limit),
                    Seed = r.GetValue(seed),
                    Baselines = !r.GetValue(noBaselines),
                }, Progress());
                var otherHtml = AnomalyEvaluation.WriteReport(r.GetValue(output)!, otherSet, otherRun, new Dictionary<string, string>
                {
                    ["run"] = Path.GetFullPath(runDir),
                    ["model"] = other.Kind,
                    ["device"] = backend.Name,
                }, r.GetValue(maxRows), other.Method, $"reconstruction error ({other.Method})");
                PrintSummary(otherRun);
                Console.WriteLine($"report: {otherHtml}");
                return 0;
            }
            var (scorer, cal, vq) = scoring.Load(r, runDir, backend, r.GetValue(seed), !r.GetValue(noMaps));
            using var outLock = RunLock.Acquire(r.GetValue(output)!, $"--out {r.GetValue(output)}");
            var vqCfg = vq.Config;
            var set = OpenEvalSet(r.GetValue(data)!, r.GetValue(format)!, r.GetValue(normalClass), vqCfg.ImageSize, vqCfg.ImageChannels);
            bool maps = !r.GetValue(noMaps);
            var reference = OpenReference(runDir, vqCfg.ImageSize, vqCfg.ImageChannels);
            var run = AnomalyEvaluation.Run(scorer, set, reference, cal.HeldOutScores, new EvaluationSettings
            {
                ImageScore = scoring.ImageScoreSpec(r, maps),
                Maps = maps,
                ThresholdPercentile = r.GetValue(thresholdP),
                Limit = r.GetValue(limit),
                Seed = r.GetValue(seed),
                Baselines = !r.GetValue(noBaselines),
            }, Progress());
            var html = AnomalyEvaluation.WriteReport(r.GetValue(output)!, set, run, new Dictionary<string, string>
            {
                ["run"] = Path.GetFullPath(runDir),
                ["device"] = backend.Name,
                ["λ / τ (nats)"] = string.Create(CultureInfo.InvariantCulture, $"{scorer.Lambda:F3} / {scorer.Tau:F3}"),
            }, r.GetValue(maxRows));
            PrintSummary(run);
            Console.WriteLine($"report: {html}");
            return 0;
        }));
        return cmd;
    }

    internal static void PrintSummary(EvaluationRun run)
    {
        var o = run.Sample.Overall;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"image AUROC {o.Image.Auroc:F4}  AP {o.Image.AveragePrecision:F4}  F1-max {o.Image.F1Max:F4} (image score {run.ImageScoreName}; reconstruction-error baseline AUROC {run.ReconstructionBaseline.Overall.Image.Auroc:F4})"));
        if (o.Pixel is { } p)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pixel AUROC {p.Auroc:F4}  AUPRO@{p.AuproFprLimit:F1} {p.Aupro:F4}  pixel F1-max {p.F1Max:F4}"));
        if (run.Sample.Threshold is { } t && o.Image.AtThreshold is { } at)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"at threshold {t.Value:F4} ({t.Rule}): TPR {at.Tpr:F3} FPR {at.Fpr:F3} F1 {at.F1:F3}"));
        if (run.Fpr is { } f)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"false-positive rate: expected {f.ExpectedFpr:F3}, measured {f.MeasuredFpr:F3} ({f.FalsePositives} of {f.TestNormals} test normals; threshold from {f.CalibrationImages} calibration images)"));
        foreach (var d in run.Sample.PerDefect)
        {
            var pixel = d.Pixel is { } dp ? string.Create(CultureInfo.InvariantCulture, $"  pixel AUROC {dp.Auroc:F4}  AUPRO {dp.Aupro:F4}") : "";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {d.Name,-14} image AUROC {d.Image.Auroc:F4}{pixel}"));
        }
        foreach (var b in run.Baselines)
        {
            var bo = b.Result.Overall;
            var pixel = bo.Pixel is { } bp ? string.Create(CultureInfo.InvariantCulture, $"  pixel AUROC {bp.Auroc:F4}  AUPRO {bp.Aupro:F4}") : "";
            var per = string.Join("", b.Result.PerDefect.Where(d => d.Pixel is not null).Select(d => string.Create(CultureInfo.InvariantCulture, $"  {d.Name} pixel {d.Pixel!.Auroc:F4}")));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"baseline {b.Name}: image AUROC {bo.Image.Auroc:F4}{pixel}{per} ({b.Seconds:F1} s)"));
        }
        if (run.ImageScoreAurocs.Count > 0)
            Console.WriteLine("image AUROC by --image-score: " + string.Join("  ", run.ImageScoreAurocs.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:F4}"))));
    }

    /// <summary>A progress bar per stage (scoring, calibration, baselines).</summary>
    internal static Action<string, int, int> Progress()
    {
        ProgressBar? bar = null;
        string? stage = null;
        return (name, done, total) =>
        {
            if (name != stage) { bar?.Finish(""); bar = new ProgressBar(name, total); stage = name; }
            bar!.Update(done, done, "");
            if (done == total) { bar.Finish($"{total} images"); bar = null; stage = null; }
        };
    }

    /// <summary>
    /// The run's calibration and training images (data_split.json), or null with a note when the run has none or they
    /// cannot be reopened; with <paramref name="stored"/>, also their stored scores (image_score.json) when it belongs to the run's checkpoints.
    /// </summary>
    internal static EvaluationReference? OpenReference(string runDir, int size, int channels, bool stored = true)
    {
        var split = CalibrationSplit.Read(runDir);
        if (split is null)
        {
            Console.Error.WriteLine($"note: {runDir} has no {CalibrationSplit.FileName} (made before calibration splits): threshold from calibration.json, no baselines");
            return null;
        }
        var data = DataOptions.OpenSource(split.Source);
        split.Check(data, "eval");
        if (data.Size != size || data.Channels != channels)
            throw new UserError($"{CalibrationSplit.FileName} reopens {data.Channels}x{data.Size}x{data.Size} images but the model expects {channels}x{size}x{size}");
        var file = stored ? ImageScoreCalibration.Read(runDir) : null;
        return new EvaluationReference(data, split.Calibration, split.TrainingIndices()) { Stored = file is not null && file.MatchesCheckpoints(runDir) ? file : null };
    }

    internal static EvalSet OpenEvalSet(string path, string format, int? normalClass, int size, int channels)
    {
        var fmt = format is "auto" ? DatasetFactory.Detect(path) : format;
        var opts = new DatasetOptions { Format = fmt, Size = size, Channels = channels, Split = "test", Notice = msg => Console.Error.WriteLine($"warning: {msg}") };
        if (normalClass is not null && fmt != "idx")
            throw new UserError($"--normal-class selects the normal digit of IDX data; {path} is {(fmt == "mvtec" ? "an MVTec category" : "a folder")}, whose normal images are the good/ ones (drop --normal-class)");
        switch (fmt)
        {
            case "mvtec":
                return EvalSet.Mvtec((MvtecDataset)DatasetFactory.Open(path, opts));
            case "idx":
                if (normalClass is null) throw new UserError("--normal-class is required to evaluate IDX data (one-vs-rest protocol)");
                return EvalSet.OneVsRest(DatasetFactory.Open(path, opts), normalClass.Value);
            case "folder":
                return EvalSet.Folder((FolderDataset)DatasetFactory.Open(path, opts));
            default:
                throw new UserError($"--format must be auto, mvtec, idx or folder, got '{format}'");
        }
    }

    public static Command Score()
    {
        var model = Cli.Required<string>("--model", "Run folder with vqvae.nvq, prior.nvq and calibration.json.");
        var input = Cli.Required<string>("--input", "An image or a folder of images (recursive).");
        var output = Cli.Required<string>("--out", "Folder to write scores.jsonl (one JSON line per image, in sorted input order) and maps/<n>.png (heat map over the image; heat_map gives its path relative to this folder).");
        var noMaps = new Option<bool>("--no-maps") { Description = "Scores only, no restorations or heat maps." };
        var onError = new Option<string>("--on-error") { Description = "An image that cannot be read: skip (a line with its error and \"score\": null, the others are scored, exit code 2 at the end) or fail (stop with exit code 1).", DefaultValueFactory = _ => "skip" };
        var shard = new Option<string?>("--shard") { Description = "Score only part I of N (0 ≤ I < N: a contiguous range of the sorted input list) and write scores.part-I.jsonl; join the parts with merge-scores. auto/N takes I from JOB_COMPLETION_INDEX (Kubernetes Indexed Job)." };
        var scoring = new ScoringCliOptions();
        var device = Cli.Device();
        var seed = Cli.Seed();
        var volumes = new VolumeCommandOptions();
        var cmd = new Command("score", "Score new images: an anomaly score per image (anomalous above the calibrated threshold) and a heat map. Exit 0 whatever is found; 2 when unreadable images were skipped. With --volumes: NIfTI volumes in, the MOOD layout out.");
        foreach (var o in new Option[] { model, input, output, noMaps, onError, shard, device, seed }) cmd.Options.Add(o);
        scoring.AddTo(cmd);
        volumes.AddTo(cmd, labels: false);
        cmd.SetAction(r => Cli.Run(r, false, () =>
        {
            bool skip = r.GetValue(onError) switch { "skip" => true, "fail" => false, var v => throw new UserError($"--on-error must be skip or fail, got '{v}'") };
            var part = Shard.Parse(r.GetValue(shard), Environment.GetEnvironmentVariable);
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            if (r.GetValue(volumes.Volumes))
                return VolumeCommands.Score(r, volumes, scoring, r.GetValue(model)!, r.GetValue(input)!, r.GetValue(output)!, backend, r.GetValue(seed));
            using var scorer = AnomalyModel.Load(r.GetValue(model)!, backend, scoring.ModelOptions(r, r.GetValue(seed), maps: !r.GetValue(noMaps)));
            ScoringCliOptions.Describe(scorer);
            var ds = PriorCommands.OpenInputs(r.GetValue(input)!, scorer.ImageSize, scorer.Channels);
            var (start, end) = part?.RangeOf(ds.Count) ?? (0, ds.Count);
            var indices = Enumerable.Range(start, end - start).ToArray();
            string outDir = r.GetValue(output)!;
            var file = Path.Combine(outDir, part is { } p ? ScoreParts.LinesFile(p.Index) : ScoreParts.ScoresFile);
            // One run per folder (per part when sharded: the parts of one job share the folder).
            using var outLock = RunLock.Acquire(outDir, $"--out {outDir}", part is { } lp ? $".nativevq.part-{lp.Index}.lock" : RunLock.FileName);
            using var writer = new ScoreWriter(file, outDir, ds, indices);
            var bar = new ProgressBar("score", indices.Length);
            scorer.ScoreDataset(ds, indices, done => bar.Update(done, done, ""), writer.Scored, skip ? writer.Skipped : null);
            bar.Finish($"{indices.Length} images");
            writer.Finish();
            if (part is { } q)
                ScoreParts.WriteManifest(outDir, new ScoreParts.Manifest(q.Index, q.Count, ds.Count, start, indices.Length,
                    ScoreParts.InputHash(Enumerable.Range(0, ds.Count).Select(ds.NameOf))));
            Console.WriteLine($"{writer.Written - writer.Skips} images scored, {writer.Flagged} above the threshold {scorer.Threshold:F2}: {file}");
            if (writer.Skips == 0) return 0;
            Console.Error.WriteLine($"warning: {writer.Skips} image(s) could not be read and were skipped (their lines in {file} hold the error), e.g. {writer.FirstSkip}");
            return 2;
        }));
        return cmd;
    }

    public static Command MergeScores()
    {
        var input = Cli.Required<string>("--input", "Folder holding the parts of a sharded score: scores.part-I.jsonl and scores.part-I.json for I = 0 … N-1.");
        var output = Cli.Required<string>("--out", "The joined file: byte-identical to the scores.jsonl of an unsharded run.");
        var cmd = new Command("merge-scores", "Join the parts written by `score --shard I/N` into one scores.jsonl; refuses a missing, extra, overlapping or unfinished part.");
        cmd.Options.Add(input);
        cmd.Options.Add(output);
        cmd.SetAction(r => Cli.Run(r, false, () =>
        {
            var (parts, lines) = ScoreParts.Merge(r.GetValue(input)!, r.GetValue(output)!);
            Console.WriteLine($"{parts} parts, {lines} images: {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}
