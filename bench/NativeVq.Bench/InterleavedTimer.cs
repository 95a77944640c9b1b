using System.Diagnostics;
using System.Text.Json.Nodes;

namespace NativeVq.Bench;

/// <summary>
/// Times several implementations of one operation in rounds, each round running every variant once in a rotated order
/// (wall and process CPU time), so a loaded machine's drift falls on all of them alike: medians per variant and each
/// variant's CPU time over the first's. For comparing a new path with the ones it replaces in one process.
/// </summary>
public static class InterleavedTimer
{
    /// <summary>
    /// JSON: <c>{name}_ms</c> and <c>{name}_cpu_ms</c> per variant, <c>{first}_over_{name}_cpu</c> for the others, and the
    /// first variant's GFLOP per CPU-second.
    /// </summary>
    public static JsonObject Run(BenchContext ctx, double flops, params (string Name, Action Run)[] variants)
    {
        int n = variants.Length;
        for (int i = 0; i < 3; i++)
            foreach (var v in variants) v.Run();
        var wall = Enumerable.Range(0, n).Select(_ => new List<double>()).ToArray();
        var cpu = Enumerable.Range(0, n).Select(_ => new List<double>()).ToArray();
        var process = Process.GetCurrentProcess();
        var budget = Stopwatch.StartNew();
        for (int r = 0; budget.Elapsed.TotalSeconds < (ctx.Quick ? 0.5 : 3) || r < 9; r++)
            for (int k = 0; k < n; k++)
            {
                int which = (k + r) % n; // rotate which runs first
                process.Refresh();
                var c0 = process.TotalProcessorTime;
                long t0 = Stopwatch.GetTimestamp();
                variants[which].Run();
                wall[which].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                process.Refresh();
                cpu[which].Add((process.TotalProcessorTime - c0).TotalMilliseconds);
            }
        static double Median(List<double> v) { v.Sort(); return v[v.Count / 2]; }
        var result = new JsonObject();
        double firstCpu = Median(cpu[0]);
        for (int i = 0; i < n; i++)
        {
            double c = Median(cpu[i]);
            result[$"{variants[i].Name}_ms"] = BenchContext.Round(Median(wall[i]), 3);
            result[$"{variants[i].Name}_cpu_ms"] = BenchContext.Round(c, 3);
            if (i > 0) result[$"{variants[0].Name}_over_{variants[i].Name}_cpu"] = BenchContext.Round(firstCpu / c, 3);
        }
        result[$"{variants[0].Name}_gflops_per_cpu_s"] = BenchContext.Round(flops / (firstCpu * 1e6), 1);
        return result;
    }
}
