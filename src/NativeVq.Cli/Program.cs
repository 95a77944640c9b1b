using NativeVq.Cli;

return NativeVqCli.Run(args);
