using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using NativeVq.Anomaly.Evaluation;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>
/// `nativevq demo`: the whole job on data the project generates itself (no download). Normal images are
/// procedural stripe textures; the test set adds scratches and spots with ground-truth masks. It sets calibration
/// images aside, trains the VQ-VAE and the prior on the other normal textures, scores the test set with
/// restorations, compares with the no-network baselines, and writes the HTML report.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "Folder for the demo's run and report (the run is replaced unless --eval-only); with --volumes the default is runs/demo-volumes.", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
        var images = new Option<int>("--images") { Description = "Normal training images to generate (calibration images included).", DefaultValueFactory = _ => 1024 };
        var tests = new Option<int>("--test-images") { Description = "Test images to generate (half of them with a defect).", DefaultValueFactory = _ => 120 };
        var vqEpochs = new Option<int>("--vq-epochs") { Description = "VQ-VAE training epochs.", DefaultValueFactory = _ => 8 };
        var priorEpochs = new Option<int>("--prior-epochs") { Description = "Prior training epochs.", DefaultValueFactory = _ => 15 };
        var texture = new Option<string>("--texture") { Description = "Generated texture: stripes (woven, regular) or gravel (stochastic pebbles, where a prior trained on few images tends to memorise them).", DefaultValueFactory = _ => "stripes" };
        var export = new Option<string?>("--export") { Description = "Instead of running the demo, write --images normal training images and --test-images test images (half with scratches or spots, masks in ground_truth/) of --texture at --export-size px as an MVTec AD-style category folder (train/good, test/<defect>, ground_truth/<defect>) for train and eval, and stop." };
        var exportSize = new Option<int>("--export-size") { Description = "Side in pixels of the images --export writes.", DefaultValueFactory = _ => 64 };
        var evalOnly = new Option<bool>("--eval-only") { Description = "Reuse the trained run in --out/run and only evaluate again (e.g. with other scoring options)." };
        var scoring = new ScoringCliOptions();
        var device = Cli.Device();
        var seed = Cli.Seed();
        var profile = Cli.Profile();
        var volumes = new Option<bool>("--volumes") { Description = "Run the volume demo instead: generated NIfTI phantom volumes with artefacts and voxel masks, slice-wise training and scoring, MOOD outputs, sample and voxel AP (docs/volumes.md)." };
        var volumeDemo = new VolumeDemo();
        var cmd = new Command("demo", "Run the main job end to end on generated textures (no data needed): train the VQ-VAE and the prior, evaluate with restorations against no-network baselines, write an HTML report. With --volumes: the same on generated 3D phantom volumes.");
        foreach (var o in new Option[] { outDir, images, tests, vqEpochs, priorEpochs, texture, export, exportSize, evalOnly, device, seed, profile, volumes }) cmd.Options.Add(o);
        scoring.AddTo(cmd);
        volumeDemo.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(r, r.GetValue(profile), () =>
        {
            if (r.GetValue(volumes))
                return volumeDemo.Run(r, Cli.OpenDevice(r.GetValue(device)!), r.GetResult(outDir) is { Implicit: false } ? r.GetValue(outDir)! : Path.Combine("runs", "demo-volumes"),
                    r.GetValue(seed), r.GetValue(vqEpochs), r.GetValue(priorEpochs), r.GetValue(scoring.Restorations));
            string kind = SyntheticTextures.ParseKind(r.GetValue(texture)!, "--texture");
            if (r.GetValue(export) is string target)
            {
                SyntheticCategory.Write(target, r.GetValue(images), r.GetValue(tests), r.GetValue(exportSize), r.GetValue(seed), kind);
                Console.WriteLine($"wrote {r.GetValue(images)} training and {r.GetValue(tests)} test {kind} textures of {r.GetValue(exportSize)} px to {target} (MVTec AD layout)");
                return 0;
            }
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            string dir = r.GetValue(outDir)!;
            var s = r.GetValue(seed);
            string run = Path.Combine(dir, "run"), report = Path.Combine(dir, "report");
            if (!r.GetValue(evalOnly)) Train(backend, run, r.GetValue(images), r.GetValue(vqEpochs), r.GetValue(priorEpochs), s, kind);
            else if (CalibrationSplit.Read(run) is not { } trained) throw new UserError($"--eval-only: {run} holds no trained demo run (run the demo without --eval-only first)");
            else
            {
                // Test textures of the kind the run was trained on; a different --texture would evaluate on foreign data.
                string was = trained.Source["texture"]?.GetValue<string>() ?? "stripes";
                if (r.GetResult(texture) is { Implicit: false } && kind != was)
                    throw new UserError($"--eval-only --texture {kind}: the run in {run} was trained on {was} textures (drop --texture or retrain)");
                kind = was;
            }

            Console.Error.WriteLine("demo 3/4: scoring generated test textures (half with scratches or spots) with restorations, calibrating, fitting baselines");
            var (scorer, cal, _) = scoring.Load(r, run, backend, s);
            var set = EvalSet.Synthetic(new SyntheticTextures(r.GetValue(tests), 32, s + 1_000_003, anomalyFraction: 0.5f, texture: kind));
            var result = AnomalyEvaluation.Run(scorer, set, EvalCommands.OpenReference(run, 32, 1), cal.HeldOutScores,
                new EvaluationSettings { ImageScore = scoring.ImageScoreSpec(r), Seed = s }, EvalCommands.Progress());

            Console.Error.WriteLine($"demo 4/4: report → {report}");
            var html = AnomalyEvaluation.WriteReport(report, set, result, new Dictionary<string, string>
            {
                ["run"] = Path.GetFullPath(run),
                ["device"] = backend.Name,
                ["λ / τ (nats)"] = string.Create(CultureInfo.InvariantCulture, $"{scorer.Lambda:F3} / {scorer.Tau:F3}"),
            });
            EvalCommands.PrintSummary(result);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"demo done in {clock.Elapsed.TotalSeconds:F0} s; open {html}"));
            return 0;
        }));
        return cmd;
    }

    /// <summary>Generates the normal textures, sets calibration images aside, trains both models on the rest.</summary>
    private static void Train(Backend backend, string run, int count, int vqEpochs, int priorEpochs, ulong s, string texture)
    {
        if (Directory.Exists(run)) Directory.Delete(run, recursive: true);
        var all = new SyntheticTextures(count, 32, s, texture: texture);
        var split = CalibrationSplit.Create(all, new JsonObject { ["kind"] = "synthetic", ["count"] = count, ["size"] = 32, ["seed"] = s, ["texture"] = texture },
            CalibrationSplit.DefaultShare, CalibrationSplit.DefaultMinCount, s);
        split.Write(run);
        var train = new SubsetDataset(all, split.TrainingIndices());
        Console.Error.WriteLine($"demo 1/4: VQ-VAE on {train.Count} generated normal 32x32 {texture} textures ({split.Calibration.Length} more set aside for calibration) → {run}");
        var vq = new VqVaeTrainer(backend, train, new VqVaeConfig { Ema = true }, new VqVaeTrainOptions { Out = run, Epochs = vqEpochs, Batch = 32, Lr = 1e-3f, Seed = s })
            { Progress = new ConsoleProgress(), Notice = ConsoleProgress.Notice }.Run();

        Console.Error.WriteLine("demo 2/4: encoding and training the PixelSNAIL prior");
        var maps = CodeMaps.Encode(vq, all, backend, progress: new ConsoleProgress());
        new PriorTrainer(backend, maps.Take(split.TrainingIndices()), maps.Take(split.Calibration),
            PixelSnailConfig.ForGrid(vq.Config.CodebookSize, maps.Height, maps.Width),
            new PriorTrainOptions { Out = run, Epochs = priorEpochs, Batch = 32, Lr = 1e-3f, Schedule = "cosine", Seed = s })
            { Progress = new ConsoleProgress(), Notice = ConsoleProgress.Notice }.Run();
        CalibrateCommand.Write(run, backend, new Anomaly.Scoring.ScoringOptions(), Anomaly.Scoring.RestorerFactory.Fast(), maps: true);
    }
}
