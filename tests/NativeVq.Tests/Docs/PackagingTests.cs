using System.Xml.Linq;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Docs;

/// <summary>
/// What `dotnet pack` depends on, read from the project files (packing itself takes minutes: done by hand and in
/// the report of issue 9): the libraries and the tool are packable with their metadata, tests and bench are not.
/// </summary>
public sealed class PackagingTests
{
    private static readonly string Repo = Path.GetFullPath(Path.Combine(Paths.Fixtures, "..", ".."));

    private static string? Property(string project, string name)
        => XDocument.Load(Path.Combine(Repo, project)).Descendants(name).LastOrDefault()?.Value;

    [Theory]
    [InlineData("src/NativeVq.Runtime/NativeVq.Runtime.csproj")]
    [InlineData("kernels/NativeVq.Kernels/NativeVq.Kernels.csproj")]
    [InlineData("src/NativeVq.Data/NativeVq.Data.csproj")]
    [InlineData("src/NativeVq.Models/NativeVq.Models.csproj")]
    [InlineData("src/NativeVq.Anomaly/NativeVq.Anomaly.csproj")]
    public void LibrariesArePackagesWithADescription(string project)
    {
        Assert.Equal("true", Property(project, "IsPackable"));
        Assert.False(string.IsNullOrWhiteSpace(Property(project, "Description")));
    }

    [Fact]
    public void TheCliIsTheNativevqTool()
    {
        const string cli = "src/NativeVq.Cli/NativeVq.Cli.csproj";
        Assert.Equal("true", Property(cli, "IsPackable"));
        Assert.Equal("true", Property(cli, "PackAsTool"));
        Assert.Equal("nativevq", Property(cli, "ToolCommandName"));
        Assert.Equal("nativevq", Property(cli, "PackageId"));
    }

    [Theory]
    [InlineData("tests/NativeVq.Tests/NativeVq.Tests.csproj")]
    [InlineData("bench/NativeVq.Bench/NativeVq.Bench.csproj")]
    public void TestsAndBenchAreNotPacked(string project)
        => Assert.NotEqual("true", Property(project, "IsPackable"));   // Directory.Build.props: false unless a project says true

    [Fact]
    public void CommonMetadataIsInDirectoryBuildProps()
    {
        const string props = "Directory.Build.props";
        Assert.Equal("false", XDocument.Load(Path.Combine(Repo, props)).Descendants("IsPackable").First().Value);
        Assert.Equal("MIT", Property(props, "PackageLicenseExpression"));
        Assert.Equal("README.md", Property(props, "PackageReadmeFile"));
        Assert.Equal("git", Property(props, "RepositoryType"));
        Assert.Equal("true", Property(props, "GenerateDocumentationFile"));
        Assert.Equal("true", Property(props, "EmbedUntrackedSources"));
        Assert.Equal("true", Property(props, "ContinuousIntegrationBuild"));
        Assert.Contains("CS1591", Property(props, "NoWarn"));
        Assert.StartsWith("MIT License", File.ReadAllText(Path.Combine(Repo, "LICENSE")));
        Assert.Contains("/artifacts/", File.ReadAllLines(Path.Combine(Repo, ".gitignore")));
    }
}
