using System.Text.RegularExpressions;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Docs;

/// <summary>
/// The README's library example is docs/examples/ScoreFolder.cs, compiled into this project: the README must quote
/// the file exactly, and the example must run on a real run folder and print what it promises.
/// </summary>
[Collection("console")]
public sealed class ReadmeExampleTests(TinyRun run)
{
    private static string RepoFile(string relative) => Path.Combine(Paths.Fixtures, "..", "..", relative);

    [Fact]
    public void ReadmeQuotesTheExampleFileVerbatim()
    {
        var readme = File.ReadAllText(RepoFile("README.md")).ReplaceLineEndings("\n");
        var example = File.ReadAllText(RepoFile("docs/examples/ScoreFolder.cs")).ReplaceLineEndings("\n");
        var blocks = Regex.Matches(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToList();
        Assert.Contains(example, blocks);
        Assert.True(example.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length <= 15, "the README promises an example of at most 15 lines");
    }

    [Fact]
    public void ExampleScoresAFolderAndReadsThePixelMap()
    {
        var (o, e) = (Console.Out, Console.Error);
        var output = new StringWriter();
        Console.SetOut(output);
        try { ScoreFolderExample.Run(run.Run, run.Images); }
        finally { Console.SetOut(o); Console.SetError(e); }
        var lines = output.ToString().ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal(2 * run.ImageCount, lines.Length);
        Assert.Matches(@"^good/\d\d\.png: score -?\d+\.\d\d \(threshold -?\d+\.\d\d\), anomalous: (True|False)$", lines[0]);
        Assert.Matches(@"^  most anomalous pixel at x=\d+, y=\d+: \d\.\d{3}$", lines[1]);
    }
}
