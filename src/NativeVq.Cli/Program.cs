using NativeVq.Cli;

return NativeVqCli.Build().Parse(args).Invoke();
