using System.CommandLine;
using NativeVq.Kernels;

namespace NativeVq.Cli.Commands;

/// <summary>`nativevq devices`: which backends work on this machine.</summary>
internal static class DevicesCommand
{
    public static Command Create()
    {
        var cmd = new Command("devices", "List the compute backends and whether each works here.");
        cmd.SetAction(_ =>
        {
            foreach (var name in new[] { "cpu", "cuda", "ilgpu-cpu" })
            {
                try
                {
                    var b = Devices.Create(name);
                    Console.WriteLine($"{name,-10} ok   {b.Description}");
                    if (b is IlgpuBackend) b.Dispose();
                }
                catch (DeviceUnavailableException e)
                {
                    Console.WriteLine($"{name,-10} no   {e.Message}");
                }
            }
            return 0;
        });
        return cmd;
    }
}
