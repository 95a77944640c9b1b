using System.CommandLine;
using System.Globalization;
using NativeVq.Anomaly.Evaluation;
using NativeVq.Anomaly.Scoring;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>
/// `nativevq demo`: the whole job on data the project generates itself (no download). Normal images are
/// procedural stripe textures; the test set adds scratches and spots with ground-truth masks. It trains the
/// VQ-VAE and the prior on normal textures, scores the test set with restorations, and writes the HTML report.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "Folder for the demo's run and report (replaced on every run); with --volumes the default is runs/demo-volumes.", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
        var images = new Option<int>("--images") { Description = "Normal training images to generate.", DefaultValueFactory = _ => 1024 };
        var tests = new Option<int>("--test-images") { Description = "Test images to generate (half of them with a defect).", DefaultValueFactory = _ => 120 };
        var vqEpochs = new Option<int>("--vq-epochs") { Description = "VQ-VAE training epochs.", DefaultValueFactory = _ => 8 };
        var priorEpochs = new Option<int>("--prior-epochs") { Description = "Prior training epochs.", DefaultValueFactory = _ => 15 };
        var restorations = new Option<int>("--restorations") { Description = "Restorations per test image.", DefaultValueFactory = _ => 15 };
        var device = Cli.Device();
        var seed = Cli.Seed();
        var profile = Cli.Profile();
        var volumes = new Option<bool>("--volumes") { Description = "Run the volume demo instead: generated NIfTI phantom volumes with artefacts and voxel masks, slice-wise training and scoring, MOOD outputs, sample and voxel AP (docs/volumes.md)." };
        var volumeDemo = new VolumeDemo();
        var cmd = new Command("demo", "Run the main job end to end on generated textures (no data needed): train the VQ-VAE and the prior, evaluate with restorations, write an HTML report. With --volumes: the same on generated 3D phantom volumes.");
        foreach (var o in new Option[] { outDir, images, tests, vqEpochs, priorEpochs, restorations, device, seed, profile, volumes }) cmd.Options.Add(o);
        volumeDemo.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(r.GetValue(profile), () =>
        {
            if (r.GetValue(volumes))
                return volumeDemo.Run(r, Cli.OpenDevice(r.GetValue(device)!), r.GetResult(outDir) is { Implicit: false } ? r.GetValue(outDir)! : Path.Combine("runs", "demo-volumes"),
                    r.GetValue(seed), r.GetValue(vqEpochs), r.GetValue(priorEpochs), r.GetValue(restorations));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            string dir = r.GetValue(outDir)!;
            var s = r.GetValue(seed);
            string run = Path.Combine(dir, "run"), report = Path.Combine(dir, "report");
            if (Directory.Exists(run)) Directory.Delete(run, recursive: true);

            var train = new SyntheticTextures(r.GetValue(images), 32, s);
            Console.Error.WriteLine($"demo 1/4: VQ-VAE on {train.Count} generated normal 32x32 textures → {run}");
            var vq = new VqVaeTrainer(backend, train, new VqVaeConfig { Ema = true }, new VqVaeTrainOptions { Out = run, Epochs = r.GetValue(vqEpochs), Batch = 32, Lr = 1e-3f, Seed = s }).Run();

            Console.Error.WriteLine("demo 2/4: encoding and training the PixelSNAIL prior");
            var maps = CodeMaps.Encode(vq, train, backend);
            int held = maps.Count / 10;
            var prior = new PriorTrainer(backend, maps.Take(Enumerable.Range(held, maps.Count - held).ToArray()), maps.Take(Enumerable.Range(0, held).ToArray()),
                PixelSnailConfig.ForGrid(vq.Config.CodebookSize, maps.Height, maps.Width),
                new PriorTrainOptions { Out = run, Epochs = r.GetValue(priorEpochs), Batch = 32, Lr = 1e-3f, Schedule = "cosine", Seed = s }).Run();

            Console.Error.WriteLine("demo 3/4: scoring generated test textures (half with scratches or spots) with restorations");
            var cal = ModelStore.LoadCalibration(run);
            var options = new ScoringOptions { Restorations = r.GetValue(restorations), Seed = s };
            var scorer = new AnomalyScorer(vq, prior, cal.Lambda, cal.Tau, options, RestorerFactory.Fast());
            var set = EvalSet.Synthetic(new SyntheticTextures(r.GetValue(tests), 32, s + 1_000_003, anomalyFraction: 0.5f));
            ProgressBar? bar = null;
            var result = AnomalyEvaluation.Run(scorer, set, cal.HeldOutScores, maps: true, progress: (done, total) => (bar ??= new ProgressBar("score", total)).Update(done, done, ""));
            bar?.Finish($"{result.Scores.Count} images");

            Console.Error.WriteLine($"demo 4/4: report → {report}");
            var html = AnomalyEvaluation.WriteReport(report, set, result, new Dictionary<string, string>
            {
                ["run"] = Path.GetFullPath(run),
                ["device"] = backend.Name,
                ["λ / τ (nats)"] = string.Create(CultureInfo.InvariantCulture, $"{cal.Lambda:F3} / {cal.Tau:F3}"),
            });
            EvalCommands.PrintSummary(result);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"demo done in {clock.Elapsed.TotalSeconds:F0} s; open {html}"));
            return 0;
        }));
        return cmd;
    }
}
