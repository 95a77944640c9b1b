using System.CommandLine;
using System.CommandLine.Invocation;
using NativeVq.Cli.Commands;

namespace NativeVq.Cli;

/// <summary>The `nativevq` command tree (built here so tests can run commands in-process).</summary>
public static class NativeVqCli
{
    /// <summary>
    /// Parses and runs one command line. A parse error (an unknown option, a value of the wrong type) prints its error
    /// lines alone, exit code 1 — not the command's whole help after them, which buried the one line that names the
    /// problem (`--help` still shows it).
    /// </summary>
    public static int Run(string[] args)
    {
        var parsed = Build().Parse(args);
        if (parsed.Action is ParseErrorAction onError) onError.ShowHelp = false;
        return parsed.Invoke();
    }

    public static RootCommand Build()
    {
        var root = new RootCommand(
            "NativeVq: image anomaly detection trained on normal images only (VQ-VAE + PixelSNAIL prior), " +
            "pure C# on its own neural runtime. Start with `nativevq demo`.");
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(EncodeCommand.Create());
        root.Subcommands.Add(ReconstructCommand.Create());
        root.Subcommands.Add(EvalCommands.Eval());
        root.Subcommands.Add(EvalCommands.Score());
        root.Subcommands.Add(CalibrateCommand.Create());
        root.Subcommands.Add(EvalCommands.MergeScores());
        root.Subcommands.Add(PriorCommands.Nll());
        root.Subcommands.Add(PriorCommands.Sample());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(DevicesCommand.Create());
        return root;
    }
}
