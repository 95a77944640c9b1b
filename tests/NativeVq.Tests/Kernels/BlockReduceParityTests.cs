using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The grouped block sums (<see cref="BlockReduceKernels"/>: one group per 1024-element block, warp shuffles, shared
/// memory across warps) through Backend.SumAll, SumSquares and the three pair losses with the tiled path on, against cpu:
/// sizes below one block, at a block boundary and over several blocks with a partial last one, in groups of several of
/// the simulator's 4-lane warps.
/// </summary>
[Collection("ilgpu")]
public sealed class BlockReduceParityTests(IlgpuFixture ilgpu)
{
    [Theory]
    [InlineData(7)]
    [InlineData(1024)]
    [InlineData(3 * 1024 + 5)]
    public void SumsAndLossesMatchCpu(int n)
    {
        var cpu = CpuBackend.Instance;
        var a = GradCheck.Random(cpu, 61, n);
        var b = GradCheck.Random(cpu, 62, 0f, 1f, n);
        var ib = ilgpu.Backend;
        ib.UseTiledGemm = true;
        try
        {
            Parity.Check(ib, [a, b], (be, t) =>
            {
                var sum = Tensor.Full(be, float.NaN, 1);
                be.SumAll(t[0], sum);
                var sq = Tensor.Zeros(be, 2); // slot 1 written
                be.SumSquares(t[0], sq, 1);
                var losses = Enumerable.Range(0, 3).Select(kind =>
                {
                    var y = Tensor.Full(be, float.NaN, 1);
                    be.LossForward((PairLoss)kind, t[0], t[1], y);
                    return y;
                });
                return [sum, sq, .. losses];
            }, rtol: 1e-5, atol: 1e-5);
        }
        finally { ib.UseTiledGemm = false; }
    }
}
