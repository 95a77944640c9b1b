using System.Text.Json;
using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Runtime;

/// <summary>The profiler is process-global: these tests run alone (no other test class enables it).</summary>
[Collection("profiler")]
public sealed class ProfilerTests
{
    [Fact]
    public void RecordsLaunchesAndWritesTableAndChromeTrace()
    {
        var b = new CpuBackend();
        Profiler.Clear();
        Profiler.Enable();
        try
        {
            using var scope = new TensorScope();
            var a = GradCheck.Random(b, 1, 64, 64);
            for (int i = 0; i < 3; i++) F.Relu(F.Matmul(a, a));
        }
        finally { Profiler.Disable(); }

        var events = Profiler.Snapshot().Where(e => e.Backend == "cpu").ToList();
        Assert.Equal(3, events.Count(e => e.Name == "gemm"));
        Assert.All(events.Where(e => e.Name == "gemm"), e => Assert.Equal(2.0 * 64 * 64 * 64, e.Flops));
        var report = Profiler.Report();
        Assert.Contains("gemm", report);
        Assert.Contains("GFLOP/s", report);
        // Sorted by total time: the first data row is the largest total.
        var path = Path.Combine(Path.GetTempPath(), $"nvq-trace-{Guid.NewGuid():N}.json");
        Profiler.WriteChromeTrace(path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var traced = doc.RootElement.GetProperty("traceEvents").EnumerateArray().ToList();
        Assert.Contains(traced, e => e.GetProperty("name").GetString() == "relu" && e.GetProperty("ph").GetString() == "X");
        File.Delete(path);
        Profiler.Clear();
    }

    [Fact]
    public void DisabledProfilerRecordsNothing()
    {
        Profiler.Clear();
        using var scope = new TensorScope();
        F.Relu(GradCheck.Random(CpuBackend.Instance, 2, 10));
        Assert.Empty(Profiler.Snapshot());
    }
}

[CollectionDefinition("profiler", DisableParallelization = true)]
public sealed class ProfilerCollection;
