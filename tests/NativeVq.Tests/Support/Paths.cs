namespace NativeVq.Tests.Support;

/// <summary>Finds the shared/ folder (golden vectors, MNIST) that sits beside the checkout.</summary>
public static class Paths
{
    public static string Shared { get; } = FindShared();

    public static string Golden => Path.Combine(Shared, "golden");

    private static string FindShared()
    {
        var env = Environment.GetEnvironmentVariable("NATIVEVQ_SHARED");
        if (!string.IsNullOrEmpty(env)) return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared");
            if (Directory.Exists(Path.Combine(candidate, "golden"))) return candidate;
        }
        throw new DirectoryNotFoundException("shared/golden not found beside the checkout (set NATIVEVQ_SHARED)");
    }
}
