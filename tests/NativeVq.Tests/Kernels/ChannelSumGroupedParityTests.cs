using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The grouped bias-gradient reduction (cuda's ChannelSum) on the CPU accelerator against cpu: group sizes that do
/// and do not divide n·hw, hw = 1 (Linear's bias), and accumulation into a non-zero gradient.
/// </summary>
[Collection("ilgpu")]
public sealed class ChannelSumGroupedParityTests(IlgpuFixture ilgpu)
{
    [Theory]
    [InlineData(3, 5, 37, 8)]
    [InlineData(2, 4, 16, 16)]
    [InlineData(7, 9, 1, 4)]
    [InlineData(1, 2, 3, 16)]
    public void MatchesCpu(int n, int c, int hw, int threads)
    {
        var dy = GradCheck.Random(CpuBackend.Instance, 7, n, c, hw);
        Parity.Check(ilgpu.Backend, [dy], (be, t) =>
        {
            var db = Tensor.Full(be, 0.5f, c);
            if (be is IlgpuBackend ib)
            {
                Assert.True(ib.ChannelSumGrouped(t[0], db, n, c, hw, threads));
                Assert.True(ib.ChannelSumGrouped(t[0], db, n, c, hw, threads));
            }
            else
            {
                be.ChannelSum(t[0], db, n, c, hw);
                be.ChannelSum(t[0], db, n, c, hw);
            }
            return [db];
        });
    }
}
