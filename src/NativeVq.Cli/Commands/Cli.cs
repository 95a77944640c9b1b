using System.CommandLine;
using NativeVq.Kernels;

namespace NativeVq.Cli.Commands;

/// <summary>Options shared by several commands and the error policy of the whole CLI.</summary>
internal static class Cli
{
    public static Option<string> Device() => new("--device")
    {
        Description = "Where to run: auto (CUDA when present, else cpu), cpu (managed SIMD), cuda, ilgpu-cpu (GPU kernels on ILGPU's CPU simulator; slow, for checking).",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<ulong> Seed() => new("--seed")
    {
        Description = "Seed for initialisation, shuffling and sampling: the same seed gives the same result on cpu.",
        DefaultValueFactory = _ => 1UL,
    };

    public static Option<bool> Profile() => new("--profile")
    {
        Description = "Time every kernel launch; print a table sorted by total time and write nativevq-trace.json (Chrome trace) at the end.",
    };

    public static Option<bool> Quiet() => new("--quiet") { Description = "No progress bars." };

    public static Option<T> Required<T>(string name, string description) => new(name) { Description = description, Required = true };

    public static Backend OpenDevice(string name)
    {
        var backend = Devices.Create(name);
        Console.Error.WriteLine($"device: {backend.Name} ({backend.Description})");
        return backend;
    }

    public static Option<bool> AllowChangedOptions() => new("--allow-changed-options")
    {
        Description = "With --resume: continue even if --batch, --lr, --seed or other options that shape training differ from the checkpoint's (the change is recorded in the metrics file).",
    };

    /// <summary>
    /// Runs a command body. Every numeric option of the command is checked first (<see cref="NumericOptions"/>).
    /// Problems with the user's input (<see cref="UserError"/>, an unavailable device, a file that cannot be read
    /// or written) print one line and exit 1, also when they were raised on a worker thread and arrive wrapped in
    /// an AggregateException; anything else is a bug: exit 3 with a short message (the stack trace only with
    /// NATIVEVQ_DEBUG=1).
    /// </summary>
    public static int Run(ParseResult r, bool profile, Func<int> body) => Run(profile, () =>
    {
        NumericOptions.Validate(r);
        return body();
    });

    private static int Run(bool profile, Func<int> body)
    {
        if (profile) Profiler.Enable();
        try
        {
            return body();
        }
        catch (Exception raw) when (Unwrap(raw) is var e && (e is UserError or DeviceUnavailableException or IOException or UnauthorizedAccessException))
        {
            Console.Error.WriteLine($"\nerror: {e.Message}");
            return 1;
        }
        catch (Exception raw) when (Environment.GetEnvironmentVariable("NATIVEVQ_DEBUG") != "1")
        {
            var e = Unwrap(raw);
            Console.Error.WriteLine($"\ninternal error ({e.GetType().Name}): {e.Message}\n(run with NATIVEVQ_DEBUG=1 for the stack trace, and please report it)");
            return 3;
        }
        finally
        {
            if (profile && Profiler.Snapshot().Count > 0)
            {
                Console.Error.Write(Profiler.Report());
                Profiler.WriteChromeTrace("nativevq-trace.json");
                Console.Error.WriteLine("kernel trace written to nativevq-trace.json (chrome://tracing or ui.perfetto.dev)");
            }
        }
    }

    /// <summary>
    /// The error a parallel loop or task wrapped: a user error among the inner exceptions wins (it explains the
    /// failure; the others are usually its consequences), else the first one.
    /// </summary>
    internal static Exception Unwrap(Exception e)
    {
        for (int depth = 0; depth < 16; depth++)
        {
            if (e is AggregateException ae && ae.Flatten().InnerExceptions is { Count: > 0 } inner)
                e = inner.FirstOrDefault(x => x is UserError or DeviceUnavailableException) ?? inner.FirstOrDefault(x => x is IOException or UnauthorizedAccessException) ?? inner[0];
            else if (e is System.Reflection.TargetInvocationException { InnerException: { } ti })
                e = ti;
            else
                break;
        }
        return e;
    }
}
