using NativeVq.Anomaly;
using NativeVq.Anomaly.Report;
using NativeVq.Cli;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Models.Training;
using NativeVq.Serve;

namespace NativeVq.Tests.Serve;

/// <summary>
/// A run folder trained in seconds (16x16 textures, four VQ-VAE and two prior epochs), loaded once for every serve
/// test, plus PNG bodies of images. The high learning rate and frequent dead-code restarts matter: with the
/// defaults, 24 steps leave every image on code 0, every score equal, and "batched equals alone" untested.
/// </summary>
public sealed class TinyRun : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-serve-" + Guid.NewGuid().ToString("N"));

    public TinyRun()
    {
        ProgressBar.Silent = true;
        var good = Path.Combine(_dir, "good");
        Directory.CreateDirectory(good);
        var tex = new SyntheticTextures(48, 16, 2, anomalyFraction: 0.5f);
        var pngs = new List<byte[]>();
        for (int i = 0; i < tex.Count; i++)
        {
            var img = new ImageF(1, 16, 16);
            tex.Load(i, img.Data);
            pngs.Add(PngData.Encode(img));
            if (tex.DefectOf(i) == "good") ImageIO.SavePng(Path.Combine(good, $"{i:D2}.png"), img);
        }
        // Beyond the textures: noise and flat grays, which even an undertrained encoder maps to different codes.
        var rng = new Random(5);
        for (int i = 0; i < 8; i++)
        {
            var img = new ImageF(1, 16, 16);
            for (int k = 0; k < img.Data.Length; k++) img.Data[k] = i % 2 == 0 ? rng.NextSingle() * 2 - 1 : i / 4f - 1;
            pngs.Add(PngData.Encode(img));
        }
        Images = pngs;
        RunDir = Path.Combine(_dir, "run");
        Cli("train vqvae --size 16 --epochs 4 --batch 4 --lr 0.003 --width 8 --codes 8 --embedding-dim 4 --ema --restart-dead-codes 4 --device cpu --data", good, "--out", RunDir);
        Cli("train prior --size 16 --epochs 2 --batch 4 --prior-channels 8 --held-out 0.25 --device cpu --data", good, "--vqvae", RunDir);
        // Two restorations keep the maps cheap; everything else is the default of `nativevq serve`.
        Scorer = AnomalyModelScorer.Load(RunDir, CpuBackend.Instance,
            new AnomalyModelOptions { Scoring = new() { Restorations = 2 } });
    }

    public string RunDir { get; }
    /// <summary>PNG files of 48 textures (half of them with a defect), then 8 of noise and flat grays.</summary>
    public IReadOnlyList<byte[]> Images { get; }
    public AnomalyModelScorer Scorer { get; }

    private static void Cli(string args, params string[] more)
    {
        var (o, e) = (Console.Out, Console.Error);
        var err = new StringWriter();
        Console.SetOut(TextWriter.Null);
        Console.SetError(err);
        int code;
        try { code = NativeVqCli.Build().Parse([.. args.Split(' '), .. more]).Invoke(); }
        finally { Console.SetOut(o); Console.SetError(e); }
        if (code != 0) throw new InvalidOperationException($"nativevq {args} failed: {err}");
    }

    public void Dispose()
    {
        Scorer.Dispose();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}
