using System.CommandLine;
using NativeVq.Anomaly.Runs;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>`nativevq train vae ...`: the VAE reconstruction baseline, with the data options and run-folder conventions of `train vqvae`.</summary>
internal static class VaeCommand
{
    public static Command Train()
    {
        var data = new DataOptions();
        var outDir = Cli.Required<string>("--out", "Run folder to write: vae.nvq (checkpoint), config.json (\"model\": \"vae\"), data_split.json, metrics.jsonl, recon.png and recon_epochNNN.png (inputs above reconstructions).");
        var epochs = new Option<int>("--epochs") { Description = "Passes over the data.", DefaultValueFactory = _ => 20 };
        var batch = new Option<int>("--batch") { Description = "Images per optimizer step.", DefaultValueFactory = _ => 32 };
        var lr = new Option<float>("--lr") { Description = "Adam learning rate.", DefaultValueFactory = _ => 1e-3f };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its checkpoint (same options); the loss curve continues exactly." };
        var allowChanged = Cli.AllowChangedOptions();
        var maxSteps = new Option<int>("--max-steps") { Description = "Stop after this many optimizer steps in total, with a checkpoint (0 = run all epochs).", DefaultValueFactory = _ => 0 };
        var clip = new Option<float>("--clip-norm") { Description = "Clip gradients to this global L2 norm (0 = off).", DefaultValueFactory = _ => 0f };
        var width = new Option<int>("--width") { Description = "Channels of the widest conv stage (the three stages use width/4, width/2, width).", DefaultValueFactory = _ => 64 };
        var latent = new Option<int>("--latent") { Description = "Dimensions of the Gaussian latent z.", DefaultValueFactory = _ => 32 };
        var beta = new Option<float>("--beta") { Description = "Weight of the KL term: loss = reconstruction + beta * KL (1 = the plain ELBO).", DefaultValueFactory = _ => 1f };
        var calShare = new Option<double>("--calibration-share") { Description = "Share of the normal images set aside for calibration (not trained on; eval places the threshold with them).", DefaultValueFactory = _ => CalibrationSplit.DefaultShare };
        var calMin = new Option<int>("--calibration-min") { Description = "Set aside at least this many images for calibration (at most half the data).", DefaultValueFactory = _ => CalibrationSplit.DefaultMinCount };
        var device = Cli.Device();
        var seed = Cli.Seed();
        var profile = Cli.Profile();
        var quiet = Cli.Quiet();

        var cmd = new Command("vae", "Train a VAE (the reconstruction baseline: conv encoder to a Gaussian latent, reparameterisation, conv decoder; loss = reconstruction + beta * KL) on normal images.");
        data.AddTo(cmd, training: true);
        foreach (var o in new Option[] { outDir, epochs, batch, lr, resume, allowChanged, maxSteps, clip, width, latent, beta, calShare, calMin, device, seed, profile, quiet }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(r, r.GetValue(profile), () =>
        {
            ProgressBar.Silent = r.GetValue(quiet);
            string outPath = r.GetValue(outDir)!;
            using var runLock = RunLock.Acquire(outPath, $"--out {outPath}");
            var (all, ds) = TrainCommand.OpenWithCalibration(r, data, outPath, r.GetValue(resume), r.GetValue(calShare), r.GetValue(calMin), r.GetValue(seed), "train vae");
            var cfg = new VaeConfig { ImageSize = ds.Size, ImageChannels = ds.Channels, Channels = r.GetValue(width), Latent = r.GetValue(latent), Beta = r.GetValue(beta) };
            cfg.Validate();
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            new VaeTrainer(backend, ds, cfg, new VaeTrainOptions
            {
                Out = outPath,
                Epochs = r.GetValue(epochs),
                Batch = r.GetValue(batch),
                Lr = r.GetValue(lr),
                Seed = r.GetValue(seed),
                Resume = r.GetValue(resume),
                AllowChangedOptions = r.GetValue(allowChanged),
                MaxSteps = r.GetValue(maxSteps),
                ClipNorm = r.GetValue(clip),
                Contamination = DataOptions.Describe(all),
            })
            {
                Progress = new ConsoleProgress(),
                Notice = ConsoleProgress.Notice,
            }.Run();
            Console.Error.WriteLine($"model written to {Path.Combine(outPath, VaeTrainer.CheckpointName)}");
            // The thresholds `score` uses: every score of the model on the calibration images it never trained on.
            var calibration = CalibrationSplit.Read(outPath)!.Calibration;
            if (calibration.Length == 0)
            {
                Console.Error.WriteLine("note: no calibration images were set aside, so `score` has no threshold for this run (eval still reports AUROC)");
                return 0;
            }
            var cal = RunCalibration.Write(outPath, new VaeRunScorer(VaeRun.Load(outPath, backend)), all, calibration);
            Console.Error.WriteLine($"thresholds (p{cal.Percentile:0} of {cal.Scores.First().Value.Length} calibration images): " +
                string.Join(", ", cal.Thresholds.Select(kv => $"{kv.Key} {kv.Value:F4}")) + $" → {Path.Combine(outPath, RunCalibration.FileName)}");
            return 0;
        }));
        return cmd;
    }
}
