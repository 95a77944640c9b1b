using System.CommandLine;
using NativeVq.Cli.Commands;

namespace NativeVq.Cli;

/// <summary>The `nativevq` command tree (built here so tests can run commands in-process).</summary>
public static class NativeVqCli
{
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
