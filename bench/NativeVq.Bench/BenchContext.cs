using System.Diagnostics;
using System.Reflection;
using System.Text.Json.Nodes;

namespace NativeVq.Bench;

/// <summary>One benchmark: measures and writes its figures into the JSON node it is given.</summary>
public interface IBench
{
    string Name { get; }
    void Run(BenchContext ctx, JsonObject result);
}

public static class BenchRegistry
{
    /// <summary>Every IBench in this assembly, in name order (each family adds its own file).</summary>
    public static IEnumerable<IBench> All() => typeof(IBench).Assembly.GetTypes()
        .Where(t => typeof(IBench).IsAssignableFrom(t) && !t.IsAbstract && !t.IsInterface)
        .Select(t => (IBench)Activator.CreateInstance(t)!).OrderBy(b => b.Name);
}

public sealed class BenchContext(bool quick)
{
    /// <summary>--quick: fewer repetitions (a smoke run, not figures to report).</summary>
    public bool Quick { get; } = quick;

    /// <summary>
    /// Median wall time in ms of <paramref name="action"/> after warm-up. Repeats until
    /// <paramref name="minSeconds"/> have passed and at least <paramref name="minReps"/> runs were timed.
    /// </summary>
    /// <remarks>
    /// Warm-up runs at least <paramref name="warmup"/> calls and <paramref name="warmupSeconds"/>: .NET's tiered JIT
    /// recompiles a method with full optimisation (and PGO) only after ~30 calls plus a background delay, so a method
    /// called once per training step is still tier-0 code for the first few seconds. Timing those seconds measures
    /// the JIT, not the kernels (PixelSNAIL training read ~10 % slow); a training run lasts minutes.
    /// </remarks>
    public double MedianMs(Action action, double minSeconds = 2.0, int minReps = 5, int warmup = 2, double warmupSeconds = 1.0)
    {
        if (Quick) { minSeconds = 0.2; minReps = 2; warmup = 1; warmupSeconds = 0; }
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < warmup || warm.Elapsed.TotalSeconds < warmupSeconds; i++) action();
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < minReps || total.Elapsed.TotalSeconds < minSeconds)
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalMilliseconds);
            if (times.Count > 10_000) break;
        }
        times.Sort();
        return times[times.Count / 2];
    }

    /// <summary>Managed bytes this thread allocates in one call of <paramref name="action"/> (after warm-up).</summary>
    public static long AllocatedBytes(Action action)
    {
        action();
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    public static double Round(double v, int digits = 3) => Math.Round(v, digits);

    /// <summary>
    /// Per-kernel ms of one profiled call of <paramref name="run"/>: the <paramref name="top"/> largest kernels, the
    /// rest summed, and the total — shows which kernel dominates a composite op or a model step.
    /// </summary>
    public static JsonObject KernelBreakdown(Action run, int top = 12)
    {
        bool was = Profiler.Enabled;
        Profiler.Enable();
        Profiler.Clear();
        run();
        double tickMs = 1000.0 / Stopwatch.Frequency;
        var groups = Profiler.Snapshot().GroupBy(e => e.Name).Select(g => (g.Key, Ms: g.Sum(e => e.Ticks) * tickMs)).OrderByDescending(g => g.Ms).ToList();
        var node = new JsonObject();
        foreach (var (name, ms) in groups.Take(top)) node[name] = Round(ms);
        if (groups.Count > top) node["(others)"] = Round(groups.Skip(top).Sum(g => g.Ms));
        node["(total)"] = Round(groups.Sum(g => g.Ms));
        Profiler.Clear();
        if (!was) Profiler.Disable();
        return node;
    }
}
