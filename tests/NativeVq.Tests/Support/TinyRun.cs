using NativeVq.Cli.Commands;
using NativeVq.Data;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Support;

/// <summary>
/// A run folder trained in a few seconds (16x16 textures, a tiny VQ-VAE and prior) and a labelled image folder
/// (good/, scratch/, spot/), shared by the tests of the "console" collection that score with a real run.
/// </summary>
public sealed class TinyRun : IDisposable
{
    public TinyRun()
    {
        Directory.CreateDirectory(Root);
        var tex = new SyntheticTextures(24, 16, 2, anomalyFraction: 0.5f);
        for (int i = 0; i < tex.Count; i++)
        {
            var sub = Path.Combine(Images, tex.DefectOf(i));
            Directory.CreateDirectory(sub);
            var img = new float[16 * 16];
            tex.Load(i, img);
            ImageIO.SavePng(Path.Combine(sub, $"{i:D2}.png"), img, 1, 16, 16);
        }
        ImageCount = tex.Count;
        var good = Path.Combine(Images, "good");
        ProgressBar.Silent = true;
        var (code, _, err) = InProcessCli.Run([.. "train vqvae --size 16 --epochs 8 --batch 4 --width 8 --codes 8 --embedding-dim 4 --ema --ema-decay 0.5 --restart-dead-codes 4 --device cpu".Split(' '), "--data", good, "--out", Run]);
        if (code != 0) throw new InvalidOperationException("training the tiny VQ-VAE failed: " + err);
        (code, _, err) = InProcessCli.Run([.. "train prior --size 16 --epochs 4 --batch 4 --prior-channels 8 --held-out 0.25 --device cpu".Split(' '), "--vqvae", Run, "--data", good]);
        if (code != 0) throw new InvalidOperationException("training the tiny prior failed: " + err);
    }

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "nvq-tinyrun-" + Guid.NewGuid().ToString("N"));

    /// <summary>The run folder: vqvae.nvq, prior.nvq, calibration.json.</summary>
    public string Run => Path.Combine(Root, "run");

    /// <summary>24 grayscale 16x16 PNGs: half good/, half scratch/ or spot/.</summary>
    public string Images => Path.Combine(Root, "set");

    public int ImageCount { get; }

    /// <summary>A fresh empty folder under the fixture's root.</summary>
    public string NewFolder(string prefix)
    {
        var d = Path.Combine(Root, prefix + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }

    public void Dispose() => Directory.Delete(Root, true);
}
