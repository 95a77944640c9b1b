using NativeVq.Cpu;
using NativeVq.Kernels;

namespace NativeVq.Tests.Support;

/// <summary>
/// One ILGPU CPU-accelerator backend for the whole test run (creating a context costs seconds). Tests that
/// use it join the "ilgpu" collection, so they run one at a time: the simulator already uses every core.
/// </summary>
public sealed class IlgpuFixture : IDisposable
{
    public IlgpuBackend Backend { get; } = Devices.CreateIlgpuCpu();
    public void Dispose() => Backend.Dispose();
}

[CollectionDefinition("ilgpu")]
public sealed class IlgpuCollection : ICollectionFixture<IlgpuFixture>;

/// <summary>Runs the same computation on cpu and on ilgpu-cpu from the same inputs and compares.</summary>
public static class Parity
{
    /// <summary>
    /// <paramref name="run"/> receives the backend and its copies of <paramref name="inputs"/> (made on cpu)
    /// and returns the tensors to compare. Float tensors must agree within atol + rtol·|cpu|; int tensors exactly.
    /// </summary>
    public static void Check(Backend gpu, Tensor[] inputs, Func<Backend, Tensor[], Tensor[]> run, double rtol = 1e-4, double atol = 1e-5)
    {
        using var scope = new TensorScope();
        var cpuOut = run(CpuBackend.Instance, inputs);
        var gpuIn = inputs.Select(t => t.To(gpu)).ToArray();
        for (int i = 0; i < inputs.Length; i++) gpuIn[i].RequiresGrad = inputs[i].RequiresGrad;
        var gpuOut = run(gpu, gpuIn);
        Assert.Equal(cpuOut.Length, gpuOut.Length);
        for (int o = 0; o < cpuOut.Length; o++)
        {
            Assert.Equal(cpuOut[o].Shape, gpuOut[o].Shape);
            if (cpuOut[o].DType == DType.I32)
            {
                Assert.Equal(cpuOut[o].ToIntArray(), gpuOut[o].ToIntArray());
                continue;
            }
            var c = cpuOut[o].ToArray();
            var g = gpuOut[o].ToArray();
            for (int k = 0; k < c.Length; k++)
            {
                double d = Math.Abs(c[k] - g[k]);
                if (!(d <= atol + rtol * Math.Abs(c[k])))
                    Assert.Fail($"output {o} {ShapeUtil.Format(cpuOut[o].Shape)} element {k}: cpu {c[k]:R}, {gpu.Name} {g[k]:R}");
            }
        }
    }
}
