using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The several-lanes-per-position channel softmax / log-softmax / cross-entropy (<see cref="ChannelSoftmaxWarpKernels"/>)
/// on the CPU accelerator against cpu: every lane count the simulator's warp allows (1, 2, 4 on its 4-lane warps),
/// channel counts below, at and above the lane count (lanes that see no channel), position counts that leave a
/// warp partly past the end, large logits (the online max must rescale), an out-of-range target (NaN on the kernel's side).
/// </summary>
[Collection("ilgpu")]
public sealed class ChannelSoftmaxWarpParityTests(IlgpuFixture ilgpu)
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (int lanes in new[] { 1, 2, 4 })
        {
            yield return [lanes, 2, 7, 5];  // 10 positions: a warp part-full
            yield return [lanes, 3, 3, 3];  // fewer channels than lanes
            yield return [lanes, 1, 13, 4];
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchCpu(int lanes, int n, int c, int hw)
    {
        var ib = ilgpu.Backend;
        Assert.Equal(0, ib.Accelerator.WarpSize % lanes); // the simulator's warps are 4 lanes
        var cpu = CpuBackend.Instance;
        var x = GradCheck.Random(cpu, 51, -30f, 30f, n, c, hw);
        var dy = GradCheck.Random(cpu, 52, n, c, hw);
        var tv = Enumerable.Range(0, n * hw).Select(i => (i * 5) % c).ToArray();
        var targets = Tensor.FromArray(cpu, tv, n, hw);
        Parity.Check(ib, [x, dy, targets], (be, t) =>
        {
            var y = Tensor.Full(be, float.NaN, n, c, hw);
            var ly = Tensor.Full(be, float.NaN, n, c, hw);
            var dx = Tensor.Full(be, 0.5f, n, c, hw);
            var ldx = Tensor.Full(be, -0.5f, n, c, hw);
            var nll = Tensor.Full(be, float.NaN, n, hw);
            var lse = Tensor.Full(be, float.NaN, n, hw);
            if (be is IlgpuBackend g)
            {
                g.SoftmaxChannelsWarp(t[0], y, n, c, hw, false, lanes);
                g.SoftmaxChannelsWarp(t[0], ly, n, c, hw, true, lanes);
                g.SoftmaxChannelsBackwardWarp(y, t[1], dx, n, c, hw, false, lanes);
                g.SoftmaxChannelsBackwardWarp(ly, t[1], ldx, n, c, hw, true, lanes);
                g.CrossEntropyWarp(t[0], t[2], nll, lse, n, c, hw, lanes);
            }
            else
            {
                be.SoftmaxChannels(t[0], y, n, c, hw, false);
                be.SoftmaxChannels(t[0], ly, n, c, hw, true);
                be.SoftmaxChannelsBackward(y, t[1], dx, n, c, hw, false);
                be.SoftmaxChannelsBackward(ly, t[1], ldx, n, c, hw, true);
                be.CrossEntropy(t[0], t[2], nll, lse, n, c, hw);
            }
            return [y, ly, dx, ldx, nll, lse];
        }, rtol: 2e-5, atol: 2e-5);
        // cpu rejects an out-of-range target up front; the kernel (whose caller validates) marks it NaN, not a wrong loss.
        tv[1] = c;
        using var scope = new TensorScope();
        var bad = Tensor.FromArray(ib, tv, n, hw);
        var nll2 = Tensor.Zeros(ib, n, hw);
        var lse2 = Tensor.Zeros(ib, n, hw);
        ib.CrossEntropyWarp(x.To(ib), bad, nll2, lse2, n, c, hw, lanes);
        var got = nll2.ToArray();
        Assert.True(float.IsNaN(got[1]));
        Assert.True(float.IsFinite(got[0]));
    }
}
