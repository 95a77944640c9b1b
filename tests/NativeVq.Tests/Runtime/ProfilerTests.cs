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

    /// <summary>
    /// A transposed conv with a bias on cpu (no fused bias kernel) records its FLOPs once: the probe for the fused kernel
    /// launches nothing and must not add an event (it did, and the efficiency bench counted the decoder's FLOPs twice).
    /// </summary>
    [Theory]
    [InlineData(3, 1, 1)]   // not the k4 s2 p1 shape: fill, probe, then the accumulating input gradient
    [InlineData(4, 2, 1)]   // k4 s2 p1: the overwriting input gradient
    public void TransposedConvWithBiasCountsItsFlopsOnce(int k, int stride, int pad)
    {
        var b = new CpuBackend();
        var g = ConvGeom.Create(2, 3, 8, 8, 4, k, stride, pad);   // the conv whose input the transposed conv produces
        Profiler.Clear();
        Profiler.Enable();
        try
        {
            using var scope = new TensorScope();
            var x = GradCheck.Random(b, 1, g.N, g.Cout, g.Hout, g.Wout);
            var w = GradCheck.Random(b, 2, g.Cout, g.Cin, k, k);
            var bias = GradCheck.Random(b, 3, g.Cin);
            b.ConvTranspose2dForward(x, w, bias, Tensor.Empty(b, g.N, g.Cin, g.H, g.W), g);
        }
        finally { Profiler.Disable(); }

        var events = Profiler.Snapshot().Where(e => e.Backend == "cpu").ToList();
        Assert.DoesNotContain(events, e => e.Name == "conv_transpose2d");
        Assert.Equal(g.Flops, events.Where(e => e.Name.StartsWith("conv", StringComparison.Ordinal)).Sum(e => e.Flops));
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
