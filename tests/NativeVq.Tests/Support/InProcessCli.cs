using NativeVq.Cli;

namespace NativeVq.Tests.Support;

/// <summary>Runs `nativevq` in-process with the console captured. Console streams are global: callers belong to the "console" collection.</summary>
public static class InProcessCli
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (Console.Out, Console.Error);
        var so = new StringWriter();
        var se = new StringWriter();
        Console.SetOut(so);
        Console.SetError(se);
        try { return (NativeVqCli.Run(args), so.ToString(), se.ToString()); }
        finally { Console.SetOut(o); Console.SetError(e); }
    }
}
