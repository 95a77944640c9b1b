using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>The code-usage histogram (Backend.CountCodes) on the CPU accelerator against cpu: it accumulates, every code counted once.</summary>
[Collection("ilgpu")]
public sealed class CodeCountParityTests(IlgpuFixture ilgpu)
{
    [Fact]
    public void CountsMatchCpuAndAccumulate()
    {
        var cpu = CpuBackend.Instance;
        var idx = Enumerable.Range(0, 301).Select(i => (i * i + 3 * i) % 7 == 0 ? 5 : (i * 13) % 11).ToArray();
        var indices = Tensor.FromArray(cpu, idx, 301);
        Parity.Check(ilgpu.Backend, [indices], (be, t) =>
        {
            var counts = Tensor.Full(be, 2f, 11);
            be.CountCodes(t[0], counts, 11);
            be.CountCodes(t[0], counts, 11);
            return [counts];
        }, rtol: 0, atol: 0);
        using var scope = new TensorScope();
        var c = Tensor.Zeros(cpu, 11);
        cpu.CountCodes(indices, c, 11);
        Assert.Equal(301f, c.ToArray().Sum());
        Assert.Equal(idx.Count(v => v == 5), (int)c.ToArray()[5]);
    }

    [Fact]
    public void CpuRejectsACodeOutOfRange()
    {
        using var scope = new TensorScope();
        var cpu = CpuBackend.Instance;
        Assert.Throws<ArgumentOutOfRangeException>(() => cpu.CountCodes(Tensor.FromArray(cpu, new[] { 0, 4 }, 2), Tensor.Zeros(cpu, 4), 4));
    }
}
