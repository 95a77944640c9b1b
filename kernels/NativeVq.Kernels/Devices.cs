using ILGPU;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using NativeVq.Cpu;

namespace NativeVq.Kernels;

/// <summary>Thrown when a backend cannot be created here; the message is one line meant for the user.</summary>
public sealed class DeviceUnavailableException(string message) : Exception(message);

/// <summary>Creates backends by name: cpu, ilgpu-cpu, cuda, auto.</summary>
public static class Devices
{
    public static readonly string[] Names = ["auto", "cpu", "cuda", "ilgpu-cpu"];

    public static Backend Create(string name) => name switch
    {
        "cpu" => CpuBackend.Instance,
        "ilgpu-cpu" => CreateIlgpuCpu(),
        "cuda" => CreateCuda(),
        "auto" => TryCreateCuda(out var cuda, out _) ? cuda! : CpuBackend.Instance,
        _ => throw new DeviceUnavailableException($"unknown device '{name}': expected one of {string.Join(", ", Names)}"),
    };

    /// <summary>
    /// ILGPU's CPU accelerator (a simulator for checking GPU kernels). The device is chosen explicitly:
    /// the default CPU device caps groups at 16 threads and spawns many OS threads; 4 warps of 4 threads on
    /// one multiprocessor keeps small test launches fast on a 2-core machine.
    /// </summary>
    public static IlgpuBackend CreateIlgpuCpu()
    {
        var device = new CPUDevice(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 4, numMultiprocessors: 1);
        var context = Context.Create(b => b.CPU(device).EnableAlgorithms().Optimize(OptimizationLevel.O1));
        return new IlgpuBackend(context, context.CreateCPUAccelerator(0), "ilgpu-cpu");
    }

    public static IlgpuBackend CreateCuda()
    {
        if (TryCreateCuda(out var backend, out var why)) return backend!;
        throw new DeviceUnavailableException($"cuda: {why}; use --device cpu (or auto) on this machine");
    }

    private static bool TryCreateCuda(out IlgpuBackend? backend, out string why)
    {
        backend = null;
        Context? context = null;
        try
        {
            context = Context.Create(b => b.Cuda().EnableAlgorithms().Optimize(OptimizationLevel.O2));
            var devices = context.GetCudaDevices();
            if (devices.Count == 0)
            {
                why = "no CUDA driver or CUDA device found";
                context.Dispose();
                return false;
            }
            backend = new IlgpuBackend(context, context.CreateCudaAccelerator(0), "cuda");
            why = "";
            return true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            context?.Dispose();
            why = $"CUDA could not be initialised ({ex.GetType().Name}: {FirstLine(ex.Message)})";
            return false;
        }
    }

    private static string FirstLine(string s)
    {
        int i = s.IndexOfAny(['\r', '\n']);
        return i < 0 ? s : s[..i];
    }
}
