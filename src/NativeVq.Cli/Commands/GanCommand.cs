using System.CommandLine;
using NativeVq.Anomaly.Runs;
using System.Globalization;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>`nativevq train gan ...`: DCGAN generator, discriminator and encoder trained together, with the data options and run-folder conventions of `train vqvae`.</summary>
internal static class GanCommand
{
    public static Command Train()
    {
        var data = new DataOptions();
        var outDir = Cli.Required<string>("--out", "Run folder to write: gan.nvq (checkpoint), config.json (\"model\": \"gan\"), data_split.json, metrics.jsonl, samples.png and samples_epochNNN.png (G of 64 fixed latents).");
        var epochs = new Option<int>("--epochs") { Description = "Passes over the data.", DefaultValueFactory = _ => 20 };
        var batch = new Option<int>("--batch") { Description = "Images per step (each step updates D, G and E once).", DefaultValueFactory = _ => 64 };
        var lr = new Option<float>("--lr") { Description = "Adam learning rate of all three networks.", DefaultValueFactory = _ => 2e-4f };
        var beta1 = new Option<float>("--beta1") { Description = "Adam β1 (DCGAN: 0.5).", DefaultValueFactory = _ => 0.5f };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its checkpoint (same options); training continues bit-identically." };
        var allowChanged = Cli.AllowChangedOptions();
        var maxSteps = new Option<int>("--max-steps") { Description = "Stop after this many steps in total, with a checkpoint (0 = run all epochs).", DefaultValueFactory = _ => 0 };
        var latent = new Option<int>("--latent-dim") { Description = "Size of the latent z (G's input, E's output).", DefaultValueFactory = _ => 100 };
        var width = new Option<int>("--width") { Description = "Channels of the outermost conv layer; each stage towards 4x4 doubles them (DCGAN: 64).", DefaultValueFactory = _ => 64 };
        var reconWeight = new Option<float>("--recon-weight") { Description = "λ of the encoder's extra λ·mean|G(E(x)) − x| term on real images (0 = off: E learns from ‖E(G(z)) − z‖² only).", DefaultValueFactory = _ => 0f };
        var calShare = new Option<double>("--calibration-share") { Description = "Share of the normal images set aside for calibration: not trained on; eval and score place the threshold with them (data_split.json).", DefaultValueFactory = _ => CalibrationSplit.DefaultShare };
        var calMin = new Option<int>("--calibration-min") { Description = "Set aside at least this many images for calibration (at most half the data).", DefaultValueFactory = _ => CalibrationSplit.DefaultMinCount };
        var device = Cli.Device();
        var seed = Cli.Seed();
        var profile = Cli.Profile();
        var quiet = Cli.Quiet();

        var cmd = new Command("gan", "Train a GAN with an encoder trained simultaneously (DCGAN G and D with BatchNorm, E(x) -> z; 32 or 64 px) on normal images; the anomaly score is ||E(x)||.");
        data.AddTo(cmd, training: true);
        foreach (var o in new Option[] { outDir, epochs, batch, lr, beta1, resume, allowChanged, maxSteps, latent, width, reconWeight, calShare, calMin, device, seed, profile, quiet }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(r, r.GetValue(profile), () =>
        {
            ProgressBar.Silent = r.GetValue(quiet);
            string outPath = r.GetValue(outDir)!;
            using var runLock = RunLock.Acquire(outPath, $"--out {outPath}");
            if (r.GetValue(data.Size) is not (32 or 64)) throw new UserError($"--size must be 32 or 64 for a GAN, got {r.GetValue(data.Size)}");
            var (all, ds) = TrainCommand.OpenWithCalibration(r, data, outPath, r.GetValue(resume), r.GetValue(calShare), r.GetValue(calMin), r.GetValue(seed), "train gan");
            var cfg = new GanConfig { ImageSize = ds.Size, ImageChannels = ds.Channels, LatentDim = r.GetValue(latent), Width = r.GetValue(width) };
            cfg.Validate();
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            new GanTrainer(backend, ds, cfg, new GanTrainOptions
            {
                Out = outPath,
                Epochs = r.GetValue(epochs),
                Batch = r.GetValue(batch),
                Lr = r.GetValue(lr),
                Beta1 = r.GetValue(beta1),
                Seed = r.GetValue(seed),
                Resume = r.GetValue(resume),
                AllowChangedOptions = r.GetValue(allowChanged),
                MaxSteps = r.GetValue(maxSteps),
                ReconWeight = r.GetValue(reconWeight),
                Contamination = DataOptions.Describe(all),
            })
            {
                Progress = new BarProgress(),
                Notice = ConsoleProgress.Notice,
            }.Run();
            Console.Error.WriteLine($"model written to {Path.Combine(outPath, GanTrainer.CheckpointName)}");
            // The thresholds `score` uses: every score of the model on the calibration images it never trained on.
            var calibration = CalibrationSplit.Read(outPath)!.Calibration;
            if (calibration.Length == 0)
            {
                Console.Error.WriteLine("note: no calibration images were set aside, so `score` has no threshold for this run (eval still reports AUROC)");
                return 0;
            }
            var cal = RunCalibration.Write(outPath, new GanRunScorer(GanRun.Load(outPath, backend)), all, calibration);
            Console.Error.WriteLine($"thresholds (p{cal.Percentile:0} of {cal.Scores.First().Value.Length} calibration images): " +
                string.Join(", ", cal.Thresholds.Select(kv => $"{kv.Key} {kv.Value:F4}")) + $" → {Path.Combine(outPath, RunCalibration.FileName)}");
            if (cal.Combined is null) Console.Error.WriteLine("note: the calibration images could not measure the spreads of recon and feature-distance (fewer than 2 images, or all alike), so this run has no combined score");
            else Console.Error.WriteLine($"combined = {1 - cal.Combined.Alpha:0.##}·recon / {cal.Combined.ReconSpread:G4} + {cal.Combined.Alpha:0.##}·feature-distance / {cal.Combined.FeatureSpread:G4} (calibration standard deviations)");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Draws the trainer's progress through the shared <see cref="ConsoleProgress"/>, one bar per epoch.</summary>
    private sealed class BarProgress : IProgress<GanProgress>
    {
        private readonly ConsoleProgress _bars = new();

        public void Report(GanProgress p)
        {
            var m = p.Means;
            string figures = string.Create(CultureInfo.InvariantCulture, $"D {m.DLoss:F3} G {m.GLoss:F3} E {m.ELoss:F4}{(m.ReconLoss > 0 ? $" recon {m.ReconLoss:F4}" : "")} σD(x) {m.DReal:F2} σD(G(z)) {m.DFake:F2}");
            // GanProgress carries no stage time: the bar's clock starts at the epoch's first report, as before.
            _bars.Report(new TrainingProgress($"epoch {p.Epoch}/{p.Epochs}", p.BatchInEpoch, p.BatchesPerEpoch, p.Images, figures, p.EpochDone, 0));
        }
    }
}
