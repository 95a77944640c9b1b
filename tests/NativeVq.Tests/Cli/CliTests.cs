using NativeVq.Cli.Commands;
using NativeVq.Models.Training;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Cli;

/// <summary>Runs `nativevq` in-process. Console streams are global, so this collection runs alone.</summary>
[Collection("console")]
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-cli-" + Guid.NewGuid().ToString("N"));

    public CliTests()
    {
        Directory.CreateDirectory(_dir);
        ProgressBar.Silent = true;
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    [Fact]
    public void HelpExplainsEveryTrainOptionWithItsDefault()
    {
        var (code, output, _) = Run("train", "vqvae", "--help");
        Assert.Equal(0, code);
        foreach (var opt in new[] { "--data", "--format", "--out", "--size", "--channels", "--epochs", "--batch", "--lr", "--seed", "--device", "--resume" })
            Assert.Contains(opt, output);
        Assert.Contains("[default: 32]", output);
    }

    [Fact]
    public void TrainPriorHelpNamesTheSeedsRecipeAndTheRegularisers()
    {
        var (code, output, _) = Run("train", "prior", "--help");
        Assert.Equal(0, code);
        foreach (var opt in new[] { "--recipe", "seeds", "--weight-decay", "--patience", "--keep-best", "--augment", "--augment-copies", "--prior-dropout", "--schedule", "--prior-blocks" })
            Assert.Contains(opt, output);
        var (bad, _, err) = Run("train", "prior", "--vqvae", _dir, "--data", _dir, "--recipe", "mood", "--device", "cpu");
        Assert.NotEqual(0, bad);
        Assert.Contains("--recipe", err);
    }

    [Fact]
    public void DemoExportWritesAGravelCategoryAndRefusesAnUnknownTexture()
    {
        var (bad, _, err) = Run("demo", "--texture", "marble", "--export", Path.Combine(_dir, "x"));
        Assert.Equal(1, bad);
        Assert.Contains("--texture", err);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "x")));
        var root = Path.Combine(_dir, "gravel");
        var (code, output, _) = Run("demo", "--texture", "gravel", "--export", root, "--export-size", "16", "--images", "4", "--test-images", "6");
        Assert.Equal(0, code);
        Assert.Contains("gravel", output);
        Assert.Equal(4, Directory.GetFiles(Path.Combine(root, "train", "good")).Length);
        Assert.Equal(6, Directory.GetFiles(Path.Combine(root, "test"), "*.png", SearchOption.AllDirectories).Length);
    }

    [Fact]
    public void MissingDataFolderIsOneLineErrorAndNonZeroExit()
    {
        var missing = Path.Combine(_dir, "nope");
        var (code, _, err) = Run("train", "vqvae", "--data", missing, "--out", Path.Combine(_dir, "run"), "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains(missing, err);
        Assert.DoesNotContain("   at ", err);   // no stack trace
        Assert.False(Directory.Exists(Path.Combine(_dir, "run", "vqvae.nvq")));
    }

    [Fact]
    public void ParseErrorsAreTheirOwnLinesWithoutTheHelp()
    {
        var (code, output, err) = Run("train", "vqvae", "--data", _dir, "--epochs", "abc", "--out", Path.Combine(_dir, "run"));
        Assert.Equal(1, code);
        var lines = (output + err).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains(lines, l => l.Contains("'abc'") && l.Contains("--epochs"));
        Assert.DoesNotContain("Usage:", output + err);   // the command's help no longer follows the error
        Assert.True(lines.Length <= 2, string.Join(" | ", lines));
    }

    [Fact]
    public void UnknownDeviceAndMissingCudaAreOneLine()
    {
        var (code, _, err) = Run("reconstruct", "--model", _dir, "--input", "x.png", "--out", "y.png", "--device", "tpu");
        Assert.Equal(1, code);
        Assert.Contains("unknown device 'tpu'", err);
        var (code2, _, err2) = Run("reconstruct", "--model", _dir, "--input", "x.png", "--out", "y.png", "--device", "cuda");
        Assert.Equal(1, code2);
        Assert.Contains("cuda:", err2);
        Assert.DoesNotContain("   at ", err2);
    }

    [Fact]
    public void SizeNotDivisibleByTheDownsamplingFactorIsRefused()
    {
        var data = Path.Combine(_dir, "imgs");
        Directory.CreateDirectory(data);
        NativeVq.Data.ImageIO.SavePng(Path.Combine(data, "a.png"), new float[30 * 30], 1, 30, 30);
        var (code, _, err) = Run("train", "vqvae", "--data", data, "--size", "30", "--out", Path.Combine(_dir, "r"), "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--size 30", err);
    }

    [Fact]
    public void TrainEncodeAndReconstructEndToEnd()
    {
        var data = Path.Combine(_dir, "tex");
        Directory.CreateDirectory(data);
        var tex = new NativeVq.Data.SyntheticTextures(12, 16, 1);
        for (int i = 0; i < tex.Count; i++)
        {
            var img = new float[16 * 16];
            tex.Load(i, img);
            NativeVq.Data.ImageIO.SavePng(Path.Combine(data, $"{i:D2}.png"), img, 1, 16, 16);
        }
        var run = Path.Combine(_dir, "run");
        var (code, _, err) = Run("train", "vqvae", "--data", data, "--size", "16", "--out", run, "--epochs", "1", "--batch", "4",
            "--width", "8", "--codes", "8", "--embedding-dim", "4", "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(run, "vqvae.nvq")));
        var codes = Path.Combine(_dir, "codes.nvq");
        (code, _, err) = Run("encode", "--model", run, "--data", data, "--size", "16", "--out", codes, "--device", "cpu");
        Assert.True(code == 0, err);
        var ck = NativeVq.Data.NvqFile.Read(codes);
        Assert.Equal(new[] { 12, 4, 4 }, ck.ByName["codes"].Shape);
        var recon = Path.Combine(_dir, "recon.png");
        (code, _, err) = Run("reconstruct", "--model", run, "--input", Path.Combine(data, "00.png"), "--out", recon, "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(recon));
    }

    [Fact]
    public void TrainPriorTracksAndKeepsTheBestEpochByDefaultButNotWithTheSeedsRecipe()
    {
        var good = Path.Combine(_dir, "good");
        NativeVq.Data.SyntheticCategory.Write(Path.Combine(_dir, "cat"), 16, 2, 16, 3, "gravel");
        Directory.Move(Path.Combine(_dir, "cat", "train", "good"), good);
        string[] dev = ["--device", "cpu"];
        int BestEpochOf(string run) => System.Text.Json.JsonDocument.Parse(File.ReadAllLines(Path.Combine(run, PriorTrainer.MetricsName))[^1]).RootElement.GetProperty("best_epoch").GetInt32();
        var vq = Path.Combine(_dir, "vq");
        var (code, _, err) = Run([.. "train vqvae --size 16 --epochs 1 --batch 4 --width 8 --codes 8 --embedding-dim 4".Split(' '), "--data", good, "--out", vq, .. dev]);
        Assert.True(code == 0, err);
        foreach (var (name, extra) in new[] { ("default", Array.Empty<string>()), ("seeds", new[] { "--recipe", "seeds" }) })
        {
            var run = Path.Combine(_dir, name);
            Directory.CreateDirectory(run);
            foreach (var f in Directory.GetFiles(vq)) File.Copy(f, Path.Combine(run, Path.GetFileName(f)));
            (code, _, err) = Run([.. "train prior --size 16 --epochs 3 --batch 4 --prior-channels 8".Split(' '), "--vqvae", run, "--data", good, .. extra, .. dev]);
            Assert.True(code == 0, err);
            Assert.Contains("of 3", err);   // "kept epoch K of 3"
            if (name == "default") Assert.InRange(BestEpochOf(run), 1, 3);   // the held-out NLL is tracked to keep the best epoch
            else Assert.Equal(0, BestEpochOf(run));                         // the seeds keep the last epoch and track nothing
        }
    }

    [Fact]
    public void TrainPriorEvalScoreNllAndSampleEndToEnd()
    {
        // good/ and scratch|spot/ subfolders of 16x16 textures: the layout `eval --format folder` reads.
        var data = Path.Combine(_dir, "set");
        var tex = new NativeVq.Data.SyntheticTextures(24, 16, 2, anomalyFraction: 0.5f);
        for (int i = 0; i < tex.Count; i++)
        {
            var sub = Path.Combine(data, tex.DefectOf(i));
            Directory.CreateDirectory(sub);
            var img = new float[16 * 16];
            tex.Load(i, img);
            NativeVq.Data.ImageIO.SavePng(Path.Combine(sub, $"{i:D2}.png"), img, 1, 16, 16);
        }
        var good = Path.Combine(data, "good");
        var run = Path.Combine(_dir, "run");
        string[] dev = ["--device", "cpu"];
        var (code, _, err) = Run([.. "train vqvae --size 16 --epochs 1 --batch 4 --width 8 --codes 8 --embedding-dim 4 --ema".Split(' '), "--data", good, "--out", run, .. dev]);
        Assert.True(code == 0, err);
        (code, _, err) = Run([.. "train prior --size 16 --epochs 2 --batch 4 --prior-channels 8 --held-out 0.25 --augment-copies 1".Split(' '), "--vqvae", run, "--data", good, .. dev]);
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(run, "prior.nvq")));
        Assert.True(File.Exists(Path.Combine(run, "calibration.json")));
        Assert.Contains("prior NLL per code: training", err);
        Assert.Contains("augmented versions of each training image (flip,rot90,shift1)", err);   // a folder of images: textures' default

        var report = Path.Combine(_dir, "report");
        string output;
        (code, output, err) = Run([.. "eval --format folder --restorations 2".Split(' '), "--model", run, "--data", data, "--out", report, .. dev]);
        Assert.True(code == 0, err);
        Assert.Contains("image AUROC", output);
        Assert.True(File.Exists(Path.Combine(report, "index.html")));
        Assert.True(File.Exists(Path.Combine(report, "metrics.json")));
        // Calibrated on the images `train vqvae` set aside (half of the good ones: the minimum count is capped at half).
        Assert.True(File.Exists(Path.Combine(run, CalibrationSplit.FileName)));
        Assert.Contains("false-positive rate: expected 0.050", output);
        Assert.Contains("baseline nearest raw patch", output);
        Assert.Contains("baseline local-statistics Gaussian", output);
        var metrics = File.ReadAllText(Path.Combine(report, "metrics.json"));
        int goodCount = Directory.GetFiles(good).Length;
        Assert.Contains($"\"calibrationImages\": {goodCount / 2},", metrics);

        var scored = Path.Combine(_dir, "scored");
        (code, output, err) = Run([.. "score --restorations 2".Split(' '), "--model", run, "--input", data, "--out", scored, .. dev]);
        Assert.True(code == 0, err);
        var lines = File.ReadAllLines(Path.Combine(scored, "scores.jsonl"));
        Assert.Equal(tex.Count, lines.Length);
        Assert.All(lines, l => Assert.Contains("\"is_anomalous\"", l));
        Assert.Equal(tex.Count, Directory.GetFiles(Path.Combine(scored, "maps")).Length);

        (code, _, err) = Run(["nll", "--model", run, "--input", Path.Combine(good, Directory.GetFiles(good).Select(Path.GetFileName).First()!), "--out", Path.Combine(_dir, "nll.json"), .. dev]);
        Assert.True(code == 0, err);
        (code, _, err) = Run(["sample", "--model", run, "--count", "4", "--out", Path.Combine(_dir, "samples.png"), .. dev]);
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(_dir, "samples.png")));
    }

    [Fact]
    public void ScoringAModelWithoutAPriorSaysWhatToDo()
    {
        var (code, _, err) = Run("score", "--model", _dir, "--input", _dir, "--out", Path.Combine(_dir, "o"), "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("vqvae.nvq", err);
    }
}

/// <summary>Tests that swap the console streams; they share one tiny trained run.</summary>
[CollectionDefinition("console", DisableParallelization = true)]
public sealed class ConsoleCollection : ICollectionFixture<TinyRun>;
