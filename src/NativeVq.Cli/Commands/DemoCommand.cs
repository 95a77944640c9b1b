using System.CommandLine;
using System.Globalization;
using NativeVq.Data;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>
/// `nativevq demo`: the whole job on data the project generates itself (no download): procedural textures,
/// a VQ-VAE trained on the normal ones, and the reconstruction grid to look at.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "Run folder for the demo's outputs.", DefaultValueFactory = _ => Path.Combine("runs", "demo") };
        var images = new Option<int>("--images") { Description = "Normal training images to generate.", DefaultValueFactory = _ => 1024 };
        var epochs = new Option<int>("--epochs") { Description = "VQ-VAE training epochs.", DefaultValueFactory = _ => 6 };
        var device = Cli.Device();
        var seed = Cli.Seed();
        var profile = Cli.Profile();
        var cmd = new Command("demo", "Run the main job end to end on generated textures (no data needed) and write the results to --out.");
        foreach (var o in new Option[] { outDir, images, epochs, device, seed, profile }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(r.GetValue(profile), () =>
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            string dir = r.GetValue(outDir)!;
            var s = r.GetValue(seed);
            var train = new SyntheticTextures(r.GetValue(images), 32, s);
            Console.Error.WriteLine($"demo: {train.Count} generated 32x32 textures; training a VQ-VAE into {dir}");
            var opts = new VqVaeTrainOptions { Out = dir, Epochs = r.GetValue(epochs), Batch = 32, Lr = 1e-3f, Seed = s };
            // A fresh demo each time: the previous run's checkpoint would otherwise block a new start.
            var ckpt = Path.Combine(dir, VqVaeTrainer.CheckpointName);
            if (File.Exists(ckpt)) File.Delete(ckpt);
            if (File.Exists(Path.Combine(dir, VqVaeTrainer.MetricsName))) File.Delete(Path.Combine(dir, VqVaeTrainer.MetricsName));
            var trainer = new VqVaeTrainer(backend, train, new VqVaeConfig(), opts);
            trainer.Run();
            var last = trainer.History[^1];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"demo done in {clock.Elapsed.TotalSeconds:F0} s: reconstruction MSE {last.ReconLoss:F4} (images in [-1,1]), perplexity {last.Perplexity:F1}, {last.CodesUsed}/128 codes used"));
            Console.WriteLine($"look at {Path.Combine(dir, "recon.png")} (top: inputs, bottom: reconstructions)");
            return 0;
        }));
        return cmd;
    }
}
