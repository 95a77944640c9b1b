using NativeVq.Anomaly.Runs;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models;

namespace NativeVq.Tests.Support;

/// <summary>A GAN + encoder run folder trained for a few steps, with the score_calibration.json `train gan` writes.</summary>
public static class TinyGanRun
{
    /// <summary>The training set: 40 normal 32x32 textures; images 0..19 are the calibration images.</summary>
    public static readonly SyntheticTextures Train = new(40, 32, 11);
    public static readonly int[] Calibration = Enumerable.Range(0, 20).ToArray();

    public static RunCalibration Make(string dir)
    {
        new GanTrainer(CpuBackend.Instance, Train, new GanConfig { ImageSize = 32, ImageChannels = 1, LatentDim = 6, Width = 4 },
            new GanTrainOptions { Out = dir, Epochs = 1, Batch = 8, Seed = 5, GridImages = 6 }).Run();
        return RunCalibration.Write(dir, new GanRunScorer(GanRun.Load(dir, CpuBackend.Instance)), Train, Calibration);
    }
}
