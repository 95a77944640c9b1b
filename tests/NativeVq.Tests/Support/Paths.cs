namespace NativeVq.Tests.Support;

/// <summary>
/// The test fixtures that live in the repository (tests/fixtures: PyTorch golden values, the MNIST subset).
/// The suite never reads anything outside the checkout: a user's clone has no sibling folders.
/// </summary>
public static class Paths
{
    public static string Fixtures { get; } = FindFixtures();

    public static string Golden => Path.Combine(Fixtures, "golden");

    public static string Mnist => Path.Combine(Fixtures, "mnist");

    private static string FindFixtures()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures");
            if (Directory.Exists(Path.Combine(candidate, "golden"))) return candidate;
        }
        throw new DirectoryNotFoundException("tests/fixtures not found above " + AppContext.BaseDirectory);
    }
}
