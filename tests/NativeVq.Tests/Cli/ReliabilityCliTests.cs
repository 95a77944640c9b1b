using NativeVq.Cli.Commands;
using NativeVq.Tests.Support;
using NativeVq.Cli;
using NativeVq.Data;
using NativeVq.Models.Training;
using NativeVq.Tests.Reliability;

namespace NativeVq.Tests.Cli;

/// <summary>A tiny trained run (VQ-VAE + prior + calibration on 16x16 textures), made once for the reliability CLI tests.</summary>
public sealed class TinyRunFixture : IDisposable
{
    public TinyRunFixture()
    {
        ProgressBar.Silent = true;
        Directory.CreateDirectory(Dir);
        var tex = new SyntheticTextures(16, 16, 2, anomalyFraction: 0.5f);
        for (int i = 0; i < tex.Count; i++)
        {
            var img = new float[16 * 16];
            tex.Load(i, img);
            ImageIO.SavePng(Path.Combine(Data, tex.DefectOf(i), $"{i:D2}.png"), img, 1, 16, 16);
        }
        var good = Path.Combine(Data, "good");
        var (code, _, err) = ReliabilityCliTests.Run([.. "train vqvae --size 16 --epochs 1 --batch 4 --width 8 --codes 8 --embedding-dim 4 --device cpu".Split(' '), "--data", good, "--out", Run]);
        if (code != 0) throw new InvalidOperationException(err);
        (code, _, err) = ReliabilityCliTests.Run([.. "train prior --size 16 --epochs 1 --batch 4 --prior-channels 8 --held-out 0.25 --device cpu".Split(' '), "--vqvae", Run, "--data", good]);
        if (code != 0) throw new InvalidOperationException(err);
    }

    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "nvq-tinyrun-" + Guid.NewGuid().ToString("N"));
    public string Data => Path.Combine(Dir, "data");
    public string Run => Path.Combine(Dir, "run");

    public void Dispose() => Directory.Delete(Dir, true);
}

/// <summary>Issue 8 at the command line: exit codes, one-line messages, and the files a run leaves behind.</summary>
[Collection("console")]
public sealed class ReliabilityCliTests : IDisposable, IClassFixture<TinyRunFixture>
{
    private readonly TinyRunFixture _run;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-relcli-" + Guid.NewGuid().ToString("N"));
    private static readonly string[] Cpu = ["--device", "cpu"];

    public ReliabilityCliTests(TinyRunFixture run)
    {
        _run = run;
        Directory.CreateDirectory(_dir);
        ProgressBar.Silent = true;
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private string P(string relative) => Path.Combine(_dir, relative);

    internal static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    /// <summary>A user error: exit 1, the fragments in the message, no stack trace, never "internal error".</summary>
    private static void UserError((int Code, string Out, string Err) r, params string[] fragments)
    {
        Assert.True(r.Code == 1, $"exit {r.Code}: {r.Err}");
        foreach (var f in fragments) Assert.Contains(f, r.Err);
        Assert.DoesNotContain("internal error", r.Err);
        Assert.DoesNotContain("AggregateException", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }

    /// <summary>A folder of <paramref name="good"/> readable 16x16 images plus the named damaged files.</summary>
    private string Inputs(string name, int good, params string[] damaged)
    {
        var dir = P(name);
        Directory.CreateDirectory(dir);
        var src = Directory.GetFiles(Path.Combine(_run.Data, "good"));
        for (int i = 0; i < good; i++) File.Copy(src[i % src.Length], Path.Combine(dir, $"{i:D3}.png"));
        foreach (var d in damaged)
            File.WriteAllBytes(Path.Combine(dir, d), d.StartsWith("empty") ? [] : File.ReadAllBytes(src[0])[..60]);
        return dir;
    }

    [Fact]
    public void ScoreSkipsUnreadableImagesWithANullScoreLineAndExitsTwo()
    {
        var input = Inputs("in", 3, "empty.png", "trunc.png");
        var r = Run([.. "score --restorations 2".Split(' '), "--model", _run.Run, "--input", input, "--out", P("out"), .. Cpu]);
        Assert.True(r.Code == 2, r.Err);
        Assert.DoesNotContain("internal error", r.Err);
        var lines = File.ReadAllLines(P("out/scores.jsonl"));
        Assert.Equal(5, lines.Length);
        var bad = lines.Where(l => l.Contains("\"score\":null")).ToList();
        Assert.Equal(2, bad.Count);
        Assert.Contains(bad, l => l.Contains("empty.png") && l.Contains("\"error\""));
        Assert.Contains(bad, l => l.Contains("trunc.png") && l.Contains("truncated"));
        Assert.Equal(3, Directory.GetFiles(P("out/maps")).Length);
        Assert.False(File.Exists(P("out/" + RunLock.FileName)));
    }

    [Fact]
    public void ScoreOnErrorFailStopsWithOneLineAndKeepsTheLinesAlreadyWritten()
    {
        // 64 images fill the scorer's first batch; the damaged one is read with the second.
        var input = Inputs("in", 64, "zz_trunc.png");
        var r = Run([.. "score --no-maps --on-error fail".Split(' '), "--model", _run.Run, "--input", input, "--out", P("out"), .. Cpu]);
        UserError(r, "zz_trunc.png");
        Assert.Equal(64, File.ReadAllLines(P("out/scores.jsonl")).Length);
        Assert.False(Directory.Exists(P("out/maps")));
    }

    [Fact]
    public void EvalAndNllReportAnUnreadableImageFromAWorkerAsAUserError()
    {
        var set = P("set");
        foreach (var f in Directory.GetFiles(_run.Data, "*.png", SearchOption.AllDirectories))
            File.Copy(f, Path.Combine(set, Path.GetRelativePath(_run.Data, f)).Also(p => Directory.CreateDirectory(Path.GetDirectoryName(p)!)));
        File.WriteAllBytes(Path.Combine(set, "good", "empty.png"), []);
        UserError(Run([.. "eval --format folder --no-maps".Split(' '), "--model", _run.Run, "--data", set, "--out", P("report"), .. Cpu]), "empty.png");
        Assert.False(Directory.Exists(P("report")));
        UserError(Run(["nll", "--model", _run.Run, "--input", Path.Combine(set, "good"), "--out", P("nll.json"), .. Cpu]), "empty.png");
    }

    [Fact]
    public void ASecondRunIntoAFolderInUseIsRefusedAndLeavesItsFilesAlone()
    {
        var input = Inputs("in", 2);
        Directory.CreateDirectory(P("out"));
        File.WriteAllText(P("out/scores.jsonl"), "the other run's line\n");
        File.WriteAllText(P("out/" + RunLock.FileName), $"{Environment.ProcessId}\n{Environment.MachineName}\nnow\n");
        UserError(Run(["score", "--model", _run.Run, "--input", input, "--out", P("out"), .. Cpu]), "in use by another nativevq run");
        Assert.Equal("the other run's line\n", File.ReadAllText(P("out/scores.jsonl")));
        UserError(Run([.. "train vqvae --size 16 --epochs 1".Split(' '), "--data", input, "--out", P("out"), .. Cpu]), "in use");

        File.WriteAllText(P("out/" + RunLock.FileName), $"{int.MaxValue}\n{Environment.MachineName}\nthen\n");   // its run was killed
        var r = Run([.. "score --no-maps".Split(' '), "--model", _run.Run, "--input", input, "--out", P("out"), .. Cpu]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(2, File.ReadAllLines(P("out/scores.jsonl")).Length);
    }

    [Fact]
    public void OutputsAreMadeOnlyWhenThereIsSomethingToWrite()
    {
        var input = Inputs("in", 2);
        var r = Run([.. "score --no-maps".Split(' '), "--model", _run.Run, "--input", input, "--out", P("scored"), .. Cpu]);
        Assert.True(r.Code == 0, r.Err);
        Assert.False(Directory.Exists(P("scored/maps")));
        UserError(Run(["score", "--model", P("nothing"), "--input", input, "--out", P("never"), .. Cpu]));
        Assert.False(Directory.Exists(P("never")));
        // Mostly damaged files, so some land among the training images whatever the calibration split sets aside.
        var bad = Inputs("bad", 1, "empty1.png", "empty2.png", "empty3.png", "empty4.png", "empty5.png");
        UserError(Run([.. "train vqvae --size 16 --epochs 1 --batch 4 --width 8 --codes 8 --embedding-dim 4".Split(' '), "--data", bad, "--out", P("run"), .. Cpu]), "empty");
        foreach (var left in new[] { "config.json", "metrics.jsonl", "vqvae.nvq", RunLock.FileName })
            Assert.False(File.Exists(Path.Combine(P("run"), left)), left);
    }

    public static TheoryData<string[], string> BadNumbers => new()
    {
        { ["train", "vqvae", "--lr", "NaN"], "--lr" },
        { ["train", "vqvae", "--lr", "-1"], "--lr" },
        { ["train", "vqvae", "--batch", "0"], "--batch" },
        { ["train", "vqvae", "--epochs", "-3"], "--epochs" },
        { ["train", "vqvae", "--size", "0"], "--size" },
        { ["train", "vqvae", "--clip-norm", "Infinity"], "--clip-norm" },
        { ["train", "prior", "--tau-percentile", "150"], "--tau-percentile" },
        { ["train", "prior", "--held-out", "1"], "--held-out" },
        { ["score", "--tau", "NaN"], "--tau" },
        { ["score", "--lambda", "NaN"], "--lambda" },
        { ["score", "--restorations", "0"], "--restorations" },
        { ["eval", "--threshold-percentile", "-5"], "--threshold-percentile" },
        { ["sample", "--temperature", "0"], "--temperature" },
    };

    [Theory]
    [MemberData(nameof(BadNumbers))]
    public void NumericOptionsAreCheckedBeforeAnyWork(string[] args, string option)
    {
        string[] rest = args[0] switch
        {
            "train" when args[1] == "vqvae" => ["--data", P("data"), "--out", P("out")],
            "train" => ["--vqvae", P("out"), "--data", P("data")],
            "score" => ["--model", P("m"), "--input", P("data"), "--out", P("out")],
            "eval" => ["--model", P("m"), "--data", P("data"), "--out", P("out")],
            _ => ["--model", P("m"), "--out", P("out/x.png")],
        };
        UserError(Run([.. args, .. rest, .. Cpu]), option);
        Assert.False(Directory.Exists(P("out")));
    }

    [Fact]
    public void WrongKindsOfPathAreNamedWithTheirCause()
    {
        var input = Inputs("in", 1);
        UserError(Run(["score", "--model", Path.Combine(_run.Run, "vqvae.nvq"), "--input", input, "--out", P("o"), .. Cpu]), "pass the folder that holds it");
        File.WriteAllText(P("plain"), "x");
        UserError(Run(["reconstruct", "--model", _run.Run, "--input", Path.Combine(input, "000.png"), "--out", P("plain/r.png"), .. Cpu]), "is a file, not a folder");
        UserError(Run(["score", "--model", _run.Run, "--input", input, "--out", P("plain/o"), .. Cpu]), "is a file, not a folder");

        var copy = P("copy");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(_run.Run)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var ck = File.ReadAllBytes(Path.Combine(copy, "vqvae.nvq"));
        ck[System.Text.Encoding.ASCII.GetString(ck).IndexOf("vqvae", StringComparison.Ordinal)] = 0xC3;
        File.WriteAllBytes(Path.Combine(copy, "vqvae.nvq"), ReliabilityFiles.Reseal(ck));
        UserError(Run(["reconstruct", "--model", copy, "--input", Path.Combine(input, "000.png"), "--out", P("r.png"), .. Cpu]), Path.Combine(copy, "vqvae.nvq"), "UTF-8");
    }

    [Fact]
    public void TrainNamesTheRealCauseOfABadInput()
    {
        var depth = P("depth");
        ReliabilityFiles.Png(Path.Combine(depth, "a.png"));
        File.WriteAllBytes(Path.Combine(depth, "a.png"), ReliabilityFiles.PngWithBadBitDepth(Path.Combine(depth, "a.png")));
        UserError(Run([.. "train vqvae --size 16".Split(' '), "--data", depth, "--out", P("r1"), .. Cpu]), "a.png", "bit depth");
        var big = Inputs("big", 1);
        UserError(Run([.. "train vqvae --size 16 --max-pixels 10".Split(' '), "--data", big, "--out", P("r2"), .. Cpu]), "above the limit");
        ReliabilityFiles.WriteIdx(P("idx0"), [], declaredImages: 0);
        UserError(Run([.. "train vqvae --size 16".Split(' '), "--data", P("idx0"), "--out", P("r3"), .. Cpu]), "declares 0 images");
        UserError(Run([.. "train vqvae --size 16 --normal-class 3".Split(' '), "--data", big, "--out", P("r4"), .. Cpu]), "--normal-class");
    }

    [Fact]
    public void EvalRefusesANormalClassTheDataLacksOrAPlainFolder()
    {
        ReliabilityFiles.WriteIdx(P("idx"), Enumerable.Range(0, 30).Select(i => (byte)(i % 3)).ToArray());
        var r = Run([.. "eval --no-maps --normal-class 7".Split(' '), "--model", _run.Run, "--data", P("idx"), "--out", P("rep"), .. Cpu]);
        UserError(r, "no image of class 7");
        Assert.DoesNotContain("NaN", r.Out);
        UserError(Run([.. "eval --no-maps --format folder --normal-class 1".Split(' '), "--model", _run.Run, "--data", _run.Data, "--out", P("rep"), .. Cpu]), "--normal-class");
    }

    [Fact]
    public void ResumeWithChangedOptionsNeedsAllowChangedOptions()
    {
        var data = Path.Combine(_run.Data, "good");
        string[] common = [.. "train vqvae --size 16 --epochs 1 --width 8 --codes 8 --embedding-dim 4".Split(' '), "--data", data, "--out", P("run"), .. Cpu];
        var r = Run([.. common, "--batch", "4", "--max-steps", "1"]);
        Assert.True(r.Code == 0, r.Err);
        UserError(Run([.. common, "--batch", "2", "--resume"]), "--batch 4 → 2", "--allow-changed-options");
        r = Run([.. common, "--batch", "2", "--resume", "--allow-changed-options"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("changed options", File.ReadAllText(P("run/metrics.jsonl")));
    }
}

internal static class PathExtensions
{
    /// <summary>Runs <paramref name="action"/> on a path (e.g. to make its folder) and returns the path.</summary>
    public static string Also(this string path, Action<string> action)
    {
        action(path);
        return path;
    }
}
