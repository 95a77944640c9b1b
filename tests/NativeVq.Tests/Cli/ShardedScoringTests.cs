using NativeVq.Tests.Support;
using static NativeVq.Tests.Support.InProcessCli;

namespace NativeVq.Tests.Cli;

/// <summary>`score --shard I/N` + `merge-scores`: the parts of a sharded run join into exactly what one run writes.</summary>
[Collection("console")]
public sealed class ShardedScoringTests(TinyRun run)
{
    private string[] Score(string outDir, params string[] extra)
        => [.. "score --restorations 2 --device cpu".Split(' '), "--model", run.Run, "--input", run.Images, "--out", outDir, .. extra];

    [Fact]
    public void ThreeShardsMergeIntoTheBytesOfOneUnshardedRun()
    {
        var single = run.NewFolder("single");
        var (code, _, err) = Run(Score(single));
        Assert.True(code == 0, err);

        var sharded = run.NewFolder("sharded");
        for (int i = 0; i < 3; i++)
        {
            (code, _, err) = Run(Score(sharded, "--shard", $"{i}/3"));
            Assert.True(code == 0, err);
            Assert.True(File.Exists(Path.Combine(sharded, $"scores.part-{i}.jsonl")));
        }
        Assert.False(File.Exists(Path.Combine(sharded, "scores.jsonl")));
        var merged = Path.Combine(sharded, "scores.jsonl");
        string output;
        (code, output, err) = Run("merge-scores", "--input", sharded, "--out", merged);
        Assert.True(code == 0, err);
        Assert.Contains($"3 parts, {run.ImageCount} images", output);

        var expected = File.ReadAllBytes(Path.Combine(single, "scores.jsonl"));
        Assert.Equal(run.ImageCount, File.ReadAllLines(merged).Length);
        Assert.Equal(expected, File.ReadAllBytes(merged));
        // The heat maps too: image i of the sorted input is maps/i.png in either layout.
        var maps = Directory.GetFiles(Path.Combine(single, "maps")).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(run.ImageCount, maps.Length);
        Assert.Equal(maps, Directory.GetFiles(Path.Combine(sharded, "maps")).Select(Path.GetFileName).Order());
        foreach (var m in maps)
            Assert.Equal(File.ReadAllBytes(Path.Combine(single, "maps", m!)), File.ReadAllBytes(Path.Combine(sharded, "maps", m!)));
    }

    [Fact]
    public void AutoTakesThePartFromTheIndexedJobVariable()
    {
        var explicitDir = run.NewFolder("explicit");
        var autoDir = run.NewFolder("auto");
        var (code, _, err) = Run(Score(explicitDir, "--shard", "1/4", "--no-maps"));
        Assert.True(code == 0, err);
        Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", "1");
        try { (code, _, err) = Run(Score(autoDir, "--shard", "auto/4", "--no-maps")); }
        finally { Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", null); }
        Assert.True(code == 0, err);
        var part = File.ReadAllBytes(Path.Combine(autoDir, "scores.part-1.jsonl"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(explicitDir, "scores.part-1.jsonl")), part);
        Assert.Equal(run.ImageCount / 4, File.ReadAllLines(Path.Combine(autoDir, "scores.part-1.jsonl")).Length);
    }

    [Theory]
    [InlineData("3/3", "--shard 3/3: the part must be from 0 to 2")]
    [InlineData("1/0", "--shard 1/0: N must be a whole number of at least 1")]
    [InlineData("2", "--shard must be I/N")]
    [InlineData("a/b", "--shard must be I/N")]
    [InlineData("auto/3", "--shard auto/3 reads the part from JOB_COMPLETION_INDEX")]
    public void BadShardIsOneLineError(string spec, string message)
    {
        var (code, _, err) = Run(Score(run.NewFolder("bad"), "--shard", spec));
        Assert.Equal(1, code);
        Assert.Contains(message, err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void AutoWithAnIndexOutOfRangeNamesTheVariable()
    {
        Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", "5");
        try
        {
            var (code, _, err) = Run(Score(run.NewFolder("bad"), "--shard", "auto/3"));
            Assert.Equal(1, code);
            Assert.Contains("JOB_COMPLETION_INDEX is '5', expected a whole number from 0 to 2", err);
        }
        finally { Environment.SetEnvironmentVariable("JOB_COMPLETION_INDEX", null); }
    }

    [Fact]
    public void MergeRefusesMissingMixedAndUnfinishedParts()
    {
        var dir = run.NewFolder("parts");
        foreach (var i in new[] { 0, 2 })
        {
            var (c, _, e) = Run(Score(dir, "--shard", $"{i}/3", "--no-maps"));
            Assert.True(c == 0, e);
        }
        var merged = Path.Combine(dir, "scores.jsonl");
        var (code, _, err) = Run("merge-scores", "--input", dir, "--out", merged);
        Assert.Equal(1, code);
        Assert.Contains("part 1 of 3 missing", err);
        Assert.False(File.Exists(merged));

        // A part of another split of the same input.
        (code, _, err) = Run(Score(dir, "--shard", "1/2", "--no-maps"));
        Assert.True(code == 0, err);
        (code, _, err) = Run("merge-scores", "--input", dir, "--out", merged);
        Assert.Equal(1, code);
        Assert.Contains("parts of different runs", err);

        // The right part, then cut short: its lines no longer match its manifest.
        (code, _, err) = Run(Score(dir, "--shard", "1/3", "--no-maps"));
        Assert.True(code == 0, err);
        (code, _, err) = Run("merge-scores", "--input", dir, "--out", merged);
        Assert.True(code == 0, err);
        var part1 = Path.Combine(dir, "scores.part-1.jsonl");
        File.WriteAllLines(part1, File.ReadAllLines(part1).Skip(1));
        (code, _, err) = Run("merge-scores", "--input", dir, "--out", merged + ".2");
        Assert.Equal(1, code);
        Assert.Contains("unfinished or damaged part", err);
    }
}
