using NativeVq.Cli.Commands;
using NativeVq.Models.Training;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Cli;

/// <summary>`nativevq train gan` in-process on the MNIST fixture: a tiny run, resume, and one-line errors for bad options.</summary>
[Collection("console")]
public sealed class GanCliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-gancli-" + Guid.NewGuid().ToString("N"));

    public GanCliTests()
    {
        Directory.CreateDirectory(_dir);
        ProgressBar.Silent = true;
    }

    public void Dispose() => Directory.Delete(_dir, true);

    // The test split of digit 0 (about 200 images, 20 % of them set aside for calibration): a few steps at batch 32.
    // Options in extra replace the defaults of the same name.
    private static string[] Tiny(string outDir, params string[] extra)
    {
        var opts = new List<(string Name, string? Value)>
        {
            ("--data", Paths.Mnist), ("--normal-class", "0"), ("--split", "test"), ("--batch", "32"), ("--width", "4"), ("--latent-dim", "8"),
            ("--epochs", "1"), ("--device", "cpu"), ("--out", outDir),
        };
        for (int i = 0; i < extra.Length; i++)
        {
            bool flag = i + 1 >= extra.Length || extra[i + 1].StartsWith("--", StringComparison.Ordinal);
            var (name, value) = (extra[i], flag ? null : extra[++i]);
            opts.RemoveAll(o => o.Name == name);
            opts.Add((name, value));
        }
        return ["train", "gan", .. opts.SelectMany(o => o.Value is null ? new[] { o.Name } : new[] { o.Name, o.Value })];
    }

    [Fact]
    public void TrainsAndResumesIntoARunFolder()
    {
        string run = Path.Combine(_dir, "run");
        var (code, _, err) = InProcessCli.Run(Tiny(run, "--max-steps", "2"));
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(run, "gan.nvq")));
        Assert.False(File.Exists(Path.Combine(run, "samples.png")));   // stopped mid-epoch
        (code, _, err) = InProcessCli.Run(Tiny(run, "--resume"));
        Assert.True(code == 0, err);
        Assert.Contains("resuming", err);
        Assert.True(File.Exists(Path.Combine(run, "samples_epoch001.png")));
        Assert.True(File.Exists(Path.Combine(run, "data_split.json")));
        Assert.Contains("\"model\": \"gan\"", File.ReadAllText(Path.Combine(run, "config.json")));
        Assert.Single(File.ReadAllLines(Path.Combine(run, "metrics.jsonl")));
    }

    [Theory]
    [InlineData("--size", "48", "--size must be 32 or 64")]
    [InlineData("--batch", "1", "--batch must be at least 2")]
    [InlineData("--recon-weight", "-1", "--recon-weight must be at least 0")]
    [InlineData("--latent-dim", "0", "--latent-dim must be in [1, 4096]")]
    [InlineData("--beta1", "1", "--beta1 must be in [0, 1)")]
    [InlineData("--width", "-3", "--width")]
    public void BadOptionsAreOneLineErrors(string option, string value, string expected)
    {
        string run = Path.Combine(_dir, "bad");
        var (code, _, err) = InProcessCli.Run(Tiny(run, option, value));
        Assert.NotEqual(0, code);
        Assert.Contains(expected, err);
        Assert.DoesNotContain("   at ", err);
        Assert.False(File.Exists(Path.Combine(run, "gan.nvq")));
    }

    [Fact]
    public void AnExistingRunNeedsResume()
    {
        string run = Path.Combine(_dir, "twice");
        Assert.Equal(0, InProcessCli.Run(Tiny(run, "--max-steps", "1")).Code);
        var (code, _, err) = InProcessCli.Run(Tiny(run, "--max-steps", "1"));
        Assert.Equal(1, code);
        Assert.Contains("--resume", err);
    }
}
