using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace NativeVq;

/// <summary>
/// Kernel profiler. Off unless <c>NATIVEVQ_PROFILE=1</c> (or <see cref="Enable"/>). When on, every backend
/// kernel launch is timed (the device is synchronised before the clock stops, so GPU times are real) and
/// recorded with its shapes, FLOPs and bytes. <see cref="Report"/> gives the table sorted by total time;
/// <see cref="WriteChromeTrace"/> a trace for chrome://tracing or Perfetto. With the environment variable set,
/// both are written when the process exits (table on stderr, trace to NATIVEVQ_PROFILE_TRACE or
/// nativevq-trace.json).
/// </summary>
public static class Profiler
{
    public readonly record struct Event(string Name, string Backend, string Shapes, long StartTicks, long Ticks, double Flops, double Bytes, int Thread);

    private const int MaxEvents = 2_000_000;
    private static readonly List<Event> Events = new();
    private static readonly object Lock = new();
    private static readonly long Origin = Stopwatch.GetTimestamp();

    static Profiler()
    {
        if (Environment.GetEnvironmentVariable("NATIVEVQ_PROFILE") is "1" or "true")
        {
            Enabled = true;
            AppDomain.CurrentDomain.ProcessExit += (_, _) => WriteAtExit();
        }
    }

    public static bool Enabled { get; private set; }

    public static void Enable() => Enabled = true;

    public static void Disable() => Enabled = false;

    public static void Clear()
    {
        lock (Lock) Events.Clear();
    }

    public static IReadOnlyList<Event> Snapshot()
    {
        lock (Lock) return Events.ToArray();
    }

    /// <summary>Starts timing one launch; dispose the result when the kernel has been queued.</summary>
    public static KernelTimer Kernel(Backend backend, string name, double flops, double bytes,
        Tensor? a = null, Tensor? b = null, Tensor? c = null)
        => Enabled ? new KernelTimer(backend, name, flops, bytes, a, b, c) : default;

    public readonly struct KernelTimer : IDisposable
    {
        private readonly Backend? _backend;
        private readonly string _name;
        private readonly double _flops, _bytes;
        private readonly string _shapes;
        private readonly long _start;

        internal KernelTimer(Backend backend, string name, double flops, double bytes, Tensor? a, Tensor? b, Tensor? c)
        {
            _backend = backend;
            _name = name;
            _flops = flops;
            _bytes = bytes;
            _shapes = string.Join(" ", new[] { a, b, c }.Where(t => t is not null).Select(t => ShapeUtil.Format(t!.Shape)));
            backend.Synchronize();
            _start = Stopwatch.GetTimestamp();
        }

        public void Dispose()
        {
            if (_backend is null) return;
            _backend.Synchronize();
            long end = Stopwatch.GetTimestamp();
            lock (Lock)
            {
                if (Events.Count < MaxEvents)
                    Events.Add(new Event(_name, _backend.Name, _shapes, _start - Origin, end - _start, _flops, _bytes, Environment.CurrentManagedThreadId));
            }
        }
    }

    /// <summary>The summary table: one row per (kernel, backend), sorted by total time.</summary>
    public static string Report()
    {
        var events = Snapshot();
        var sb = new StringBuilder();
        double tickMs = 1000.0 / Stopwatch.Frequency;
        var rows = events.GroupBy(e => (e.Name, e.Backend))
            .Select(g => (g.Key.Name, g.Key.Backend, Calls: g.Count(), Ms: g.Sum(e => e.Ticks) * tickMs,
                Flops: g.Sum(e => e.Flops), Bytes: g.Sum(e => e.Bytes)))
            .OrderByDescending(r => r.Ms).ToList();
        double total = rows.Sum(r => r.Ms);
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"{"kernel",-28} {"backend",-9} {"calls",8} {"total ms",10} {"%",6} {"mean us",10} {"GFLOP/s",9} {"GB/s",8}"));
        foreach (var r in rows)
        {
            double s = r.Ms / 1000.0;
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Name,-28} {r.Backend,-9} {r.Calls,8} {r.Ms,10:F2} {100 * r.Ms / Math.Max(total, 1e-9),6:F1} {1000 * r.Ms / r.Calls,10:F1} {(s > 0 ? r.Flops / s / 1e9 : 0),9:F2} {(s > 0 ? r.Bytes / s / 1e9 : 0),8:F2}"));
        }
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{events.Count} launches, {total:F1} ms in kernels"));
        return sb.ToString();
    }

    /// <summary>Writes the Chrome trace-event JSON (complete events, microseconds).</summary>
    public static void WriteChromeTrace(string path)
    {
        var events = Snapshot();
        double tickUs = 1e6 / Stopwatch.Frequency;
        // A name no other process or thread writing the same trace will pick (NATIVEVQ_PROFILE in parallel shards).
        var tmp = $"{path}.{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}.tmp";
        using (var w = new StreamWriter(tmp, false, new UTF8Encoding(false)))
        {
            w.Write("{\"traceEvents\":[");
            for (int i = 0; i < events.Count; i++)
            {
                var e = events[i];
                if (i > 0) w.Write(',');
                w.Write(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"name\":\"{e.Name}\",\"cat\":\"{e.Backend}\",\"ph\":\"X\",\"pid\":1,\"tid\":{e.Thread},\"ts\":{e.StartTicks * tickUs:F3},\"dur\":{e.Ticks * tickUs:F3},\"args\":{{\"shapes\":\"{e.Shapes}\",\"flops\":{e.Flops:G6},\"bytes\":{e.Bytes:G6}}}}}"));
            }
            w.Write("],\"displayTimeUnit\":\"ms\"}");
        }
        File.Move(tmp, path, overwrite: true);
    }

    private static void WriteAtExit()
    {
        if (Snapshot().Count == 0) return;
        Console.Error.WriteLine();
        Console.Error.Write(Report());
        var path = Environment.GetEnvironmentVariable("NATIVEVQ_PROFILE_TRACE") ?? "nativevq-trace.json";
        try
        {
            WriteChromeTrace(path);
            Console.Error.WriteLine($"kernel trace written to {path} (open in chrome://tracing or ui.perfetto.dev)");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"could not write kernel trace {path}: {ex.Message}");
        }
    }
}
