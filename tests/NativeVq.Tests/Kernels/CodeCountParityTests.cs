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

    [Fact]
    public void FromCodesChecksOnTheHostAndTheOneHotStillMatches()
    {
        using var scope = new TensorScope();
        var ib = ilgpu.Backend;
        Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromCodes(ib, new[] { 0, 3 }, 3, 2));
        var codes = new[] { 2, 0, 1, 2, 1, 0 };
        var checkedCodes = Tensor.FromCodes(ib, codes, 3, 2, 3);
        Assert.True(checkedCodes.CodesKnownBelow(3));
        Assert.False(checkedCodes.CodesKnownBelow(2));
        var before = ib.Transfers.Snapshot();
        var y = F.OneHot(checkedCodes, 3);
        Assert.Equal(0, ib.Transfers.Since(before).Downloads); // no flag read back
        Assert.Equal(F.OneHot(Tensor.FromArray(CpuBackend.Instance, codes, 2, 3), 3).ToArray(), y.ToArray());
    }
}
