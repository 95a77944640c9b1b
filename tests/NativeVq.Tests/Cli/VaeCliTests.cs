using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Cli;

/// <summary>`train vae` with --contamination on MNIST one-vs-rest, `eval` on the VAE run, and --contamination's errors.</summary>
[Collection("console")]
public sealed class VaeCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-vaecli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    [Fact]
    public void ContaminatedVaeRunRecordsTheContaminationAndEvaluates()
    {
        var run = Path.Combine(_dir, "run");
        var (code, _, err) = InProcessCli.Run([.. "train vae --normal-class 1 --epochs 1 --batch 64 --width 8 --latent 4 --contamination 0.1 --contamination-seed 3 --device cpu --quiet".Split(' '), "--data", Paths.Mnist, "--out", run]);
        Assert.True(code == 0, err);
        var clean = DatasetFactory.Open(Paths.Mnist, new DatasetOptions { Format = "idx", Size = 32, NormalClass = 1 }).SplitPerLabel(0.8).First;
        int want = (int)Math.Round(0.1 * clean.Count, MidpointRounding.AwayFromZero);
        var c = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "config.json")))!["contamination"]!;
        Assert.Equal(0.1, c["fraction"]!.GetValue<double>());
        Assert.Equal(3UL, c["seed"]!.GetValue<ulong>());
        Assert.Equal(want, c["replaced"]!.GetValue<int>());
        Assert.Contains($"contamination: {want} of {clean.Count} images replaced", err);

        string outDir = Path.Combine(_dir, "report");
        var (ecode, eout, eerr) = InProcessCli.Run([.. "eval --normal-class 1 --limit 300 --device cpu".Split(' '), "--model", run, "--data", Paths.Mnist, "--out", outDir]);
        Assert.True(ecode == 0, eerr);
        Assert.Matches(@"image AUROC [01]\.\d{4}", eout);
        Assert.Contains("image score recon", eout);
        Assert.Contains("false-positive rate: expected 0.050", eout);
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "metrics.json")))!;
        Assert.StartsWith("VAE", metrics["method"]!.GetValue<string>());

        // score: the VAE's reconstruction error against the threshold train vae calibrated (score_calibration.json).
        var images = Path.Combine(_dir, "inputs");
        Directory.CreateDirectory(images);
        for (int i = 0; i < 3; i++) ImageIO.SavePng(Path.Combine(images, $"{i}.png"), clean.Load(i), 1, 32, 32);
        var scores = Path.Combine(_dir, "scores");
        var (scode, sout, serr) = InProcessCli.Run([.. "score --device cpu".Split(' '), "--model", run, "--input", images, "--out", scores]);
        Assert.True(scode == 0, serr);
        Assert.Contains("scoring: vae run, image score recon", serr);
        Assert.Contains("3 images scored", sout);
        var cal = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "score_calibration.json")))!;
        double threshold = cal["thresholds"]!["recon"]!.GetValue<double>();
        var lines = File.ReadAllLines(Path.Combine(scores, "scores.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(3, lines.Count);
        Assert.All(lines, l => Assert.Equal(Math.Round(threshold, 4), l["threshold"]!.GetValue<double>(), 6));
    }

    /// <summary>The same seam for a GAN run: eval's default score is ‖E(x)‖, every GAN score gets an AUROC, score thresholds it.</summary>
    [Fact]
    public void EvalAndScoreTakeAContaminatedGanRun()
    {
        var run = Path.Combine(_dir, "gan");
        var (code, _, err) = InProcessCli.Run([.. "train gan --normal-class 0 --batch 32 --width 4 --latent-dim 8 --epochs 1 --max-steps 3 --contamination 0.05 --device cpu --quiet".Split(' '), "--data", Paths.Mnist, "--out", run]);
        Assert.True(code == 0, err);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "config.json")))!;
        Assert.Equal("gan", config["model"]!.GetValue<string>());
        Assert.Equal(0.05, config["contamination"]!["fraction"]!.GetValue<double>());
        var (ecode, eout, eerr) = InProcessCli.Run([.. "eval --normal-class 0 --limit 200 --no-baselines --device cpu".Split(' '), "--model", run, "--data", Paths.Mnist, "--out", Path.Combine(_dir, "ganreport")]);
        Assert.True(ecode == 0, eerr);
        Assert.Contains("image score encoder-norm", eout);
        Assert.Matches(@"image AUROC by --image-score: encoder-norm [01]\.\d{4}  recon [01]\.\d{4}  feature-distance [01]\.\d{4}  combined [01]\.\d{4}", eout);
        var images = Path.Combine(_dir, "ganinputs");
        Directory.CreateDirectory(images);
        ImageIO.SavePng(Path.Combine(images, "a.png"), new float[32 * 32], 1, 32, 32);
        var (scode, sout, serr) = InProcessCli.Run([.. "score --device cpu".Split(' '), "--model", run, "--input", images, "--out", Path.Combine(_dir, "ganscores")]);
        Assert.True(scode == 0, serr);
        Assert.Contains("scoring: gan run, image score encoder-norm", serr);
        Assert.Contains("1 images scored", sout);
    }

    [Fact]
    public void ContaminationOnAFolderOfImagesIsAOneLineError()
    {
        var folder = Path.Combine(_dir, "images");
        Directory.CreateDirectory(folder);
        ImageIO.SavePng(Path.Combine(folder, "a.png"), new float[16 * 16], 1, 16, 16);
        var (code, _, err) = InProcessCli.Run([.. "train vae --size 16 --epochs 1 --contamination 0.05 --device cpu".Split(' '), "--data", folder, "--out", Path.Combine(_dir, "r")]);
        Assert.NotEqual(0, code);
        var line = Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("--contamination", line);
        Assert.Contains("a folder of images", line);
        Assert.DoesNotContain("   at ", err);
    }
}
