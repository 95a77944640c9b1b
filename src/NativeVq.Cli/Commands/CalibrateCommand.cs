using System.CommandLine;
using System.Globalization;
using NativeVq.Anomaly;
using NativeVq.Anomaly.Scoring;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>
/// `nativevq calibrate`: scores a run's calibration images and writes image_score.json, from which `score`,
/// `serve` and the library fit the default image score and its threshold exactly as `eval` does. `train prior`
/// and the demo run it at their end with the default scoring settings.
/// </summary>
internal static class CalibrateCommand
{
    public static Command Create()
    {
        var model = Cli.Required<string>("--model", "Run folder with vqvae.nvq, prior.nvq, calibration.json and data_split.json (its calibration images).");
        var noMaps = new Option<bool>("--no-maps") { Description = $"Score the calibration images without restorations: only latent image scores (the default then is {ImageScoreDefaults.WithoutMaps})." };
        var scoring = new ScoringCliOptions();
        var device = Cli.Device();
        var seed = Cli.Seed();
        var cmd = new Command("calibrate", $"Score the run's calibration images (normal, trained on by neither model) and write {ImageScoreCalibration.FileName}: " +
            $"what score/serve need for the default image score ({ImageScoreDefaults.Default}) and its threshold. train prior does this at its end; rerun it to score with other scoring options.");
        foreach (var o in new Option[] { model, noMaps, device, seed }) cmd.Options.Add(o);
        scoring.AddTo(cmd, imageScores: false);
        cmd.SetAction(r => Cli.Run(r, false, () =>
        {
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            string runDir = r.GetValue(model)!;
            using var runLock = RunLock.Acquire(runDir, $"--model {runDir}");
            if (!Write(runDir, backend, scoring.Options(r, r.GetValue(seed)), scoring.CreateRestorer(r), !r.GetValue(noMaps)))
                throw new UserError($"--model {runDir}: the run has no {CalibrationSplit.FileName} (made before calibration splits): retrain with `train vqvae` to set calibration images aside");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Writes image_score.json for the run's models; false (and nothing written) when the run has no calibration images.</summary>
    public static bool Write(string runDir, Backend backend, ScoringOptions o, IRestorer restorer, bool maps)
    {
        var vq = ModelStore.LoadVqVae(runDir, backend);
        var prior = ModelStore.LoadPrior(runDir, backend);
        var cal = ModelStore.LoadCalibration(runDir);
        var reference = EvalCommands.OpenReference(runDir, vq.Config.ImageSize, vq.Config.ImageChannels, stored: false);
        if (reference is null || reference.Calibration.Count < 2) return false;
        var scorer = new AnomalyScorer(vq, prior, o.Lambda ?? cal.Lambda, o.Tau ?? cal.Tau, o, restorer);
        if (reference.Fit.Count > 0)
        {
            // The knn part's training features, written first: image_score.json's knn values are measured against them.
            var bank = FeatureBank.Build(vq, reference.Data, reference.Fit, FeatureBank.VqVaeHashOf(runDir));
            bank.Write(runDir);
            scorer.Bank = bank;
        }
        var bar = new ProgressBar("calibrate", reference.Calibration.Count);
        var file = ImageScoreCalibration.Fit(runDir, scorer, reference.Data, reference.Calibration, maps, done => bar.Update(done, done, ""));
        bar.Finish($"{reference.Calibration.Count} images");
        file.Write(runDir);
        var spec = maps ? ImageScoreDefaults.Default : ImageScoreDefaults.WithoutMaps;
        var (_, threshold) = file.Calibrated(spec, scorer.Lambda, 95);
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"image score {spec}: threshold {threshold:F4} (p95 of {reference.Calibration.Count} calibration images) → {Path.Combine(runDir, ImageScoreCalibration.FileName)}"));
        return true;
    }
}
