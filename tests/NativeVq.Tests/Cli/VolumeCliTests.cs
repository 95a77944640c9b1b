using NativeVq.Cli.Commands;
using NativeVq.Tests.Support;
using NativeVq.Cli;
using NativeVq.Data.Volumes;
using NativeVq.Models.Training;

namespace NativeVq.Tests.Cli;

/// <summary>The volume commands in-process: a tiny `demo --volumes`, then `score --volumes` and `eval --volumes` on its run.</summary>
[Collection("console")]
public sealed class VolumeCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-vcli-" + Guid.NewGuid().ToString("N"));

    public VolumeCliTests()
    {
        Directory.CreateDirectory(_dir);
        ProgressBar.Silent = true;
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args) => InProcessCli.Run(args);

    [Fact]
    public void DemoThenScoreAndEvalWriteTheMoodLayout()
    {
        var demo = Path.Combine(_dir, "demo");
        var (code, output, err) = Run("demo", "--volumes", "--out", demo, "--volume-size", "20", "--slice-size", "16", "--train-volumes", "3",
            "--test-volumes", "2", "--vq-epochs", "1", "--prior-epochs", "1", "--restorations", "1", "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.Contains("sample AP", output);
        Assert.Contains("voxel  AP", output);
        Assert.True(File.Exists(Path.Combine(demo, "report", "index.html")));
        Assert.True(File.Exists(Path.Combine(demo, "scores", "sample", "test_001.nii.gz.txt")));

        var test = Path.Combine(demo, "data", "test");
        var outDir = Path.Combine(_dir, "scores");
        (code, output, err) = Run("score", "--volumes", "--model", Path.Combine(demo, "run"), "--input", test, "--out", outDir,
            "--skip-empty-slices", "--restorations", "1", "--aggregate", "max", "--device", "cpu");
        Assert.True(code == 0, err);
        foreach (var name in new[] { "test_000.nii.gz", "test_001.nii.gz" })
        {
            var map = NiftiFile.Read(Path.Combine(outDir, "pixel", name));
            var input = NiftiFile.Read(Path.Combine(test, name));
            Assert.Equal((input.Nx, input.Ny, input.Nz), (map.Nx, map.Ny, map.Nz));
            Assert.Equal(input.Header.Srow, map.Header.Srow);
            Assert.True(double.TryParse(File.ReadAllText(Path.Combine(outDir, "sample", name + ".txt")), System.Globalization.CultureInfo.InvariantCulture, out _));
        }

        (code, output, err) = Run("eval", "--volumes", "--model", Path.Combine(demo, "run"), "--data", test, "--out", Path.Combine(_dir, "report"),
            "--skip-empty-slices", "--restorations", "1", "--device", "cpu");
        Assert.True(code == 0, err);
        Assert.Contains("sample AP", output);
        Assert.True(File.Exists(Path.Combine(_dir, "report", "volume_metrics.json")));

        // Bad input: one line naming the option, exit 1.
        (code, _, err) = Run("score", "--volumes", "--model", Path.Combine(demo, "run"), "--input", test, "--out", outDir, "--aggregate", "median", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--aggregate", err);
        Assert.DoesNotContain("   at ", err);
    }
}
