using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The conv epilogue's ILGPU kernels on the CPU accelerator against cpu at small shapes: the tiled forward's store
/// (BiasedOutput with an activation code, small tiles so partial tiles occur), the direct ConvKernels.Forward,
/// the standalone BiasActivation pass and the ActivationBackward (+ bias gradient) of every activation.
/// </summary>
[Collection("ilgpu")]
public sealed class ConvEpilogueParityTests(IlgpuFixture ilgpu)
{
    public static IEnumerable<object[]> Epilogues()
    {
        yield return [ConvActivation.None, 0f];
        yield return [ConvActivation.Relu, 0f];
        yield return [ConvActivation.LeakyRelu, 0.2f];
        yield return [ConvActivation.Elu, 0f];
    }

    [Theory]
    [MemberData(nameof(Epilogues))]
    public void ForwardEpilogueAndBackwardMatchCpu(ConvActivation act, float slope)
    {
        var ep = new ConvEpilogue(act, slope);
        var g = ConvGeom.Create(2, 3, 7, 6, 5, 4, 2, 1);
        int hw = g.Hout * g.Wout;
        var cpu = CpuBackend.Instance;
        var x = GradCheck.Random(cpu, 1, g.N, g.Cin, g.H, g.W);
        var w = GradCheck.Random(cpu, 2, g.Cout, g.Cin, g.KH, g.KW);
        var bias = GradCheck.Random(cpu, 3, g.Cout);
        var dy = GradCheck.Random(cpu, 4, g.N, g.Cout, g.Hout, g.Wout);
        var tile = new TiledGemmKernels.Tile(4, 2, 4);
        // ELU's exp is XMath.Exp on ILGPU and a polynomial on cpu: a few ulps apart.
        Parity.Check(ilgpu.Backend, [x, w, bias, dy], (be, t) =>
        {
            var tiled = Tensor.Full(be, float.NaN, g.N, g.Cout, g.Hout, g.Wout);
            var tiledNoBias = Tensor.Full(be, float.NaN, g.N, g.Cout, g.Hout, g.Wout);
            var direct = Tensor.Full(be, float.NaN, g.N, g.Cout, g.Hout, g.Wout);
            if (be is IlgpuBackend ib)
            {
                Assert.True(ib.ConvForwardTiled(t[0], t[1], t[2], tiled, g, tile, ep));
                Assert.True(ib.ConvForwardTiled(t[0], t[1], null, tiledNoBias, g, tile, ep));
                Assert.False(ib.UseTiledGemm); // the ilgpu-cpu default: Conv2dForward takes the direct kernel
            }
            else
            {
                be.Conv2dForward(t[0], t[1], t[2], tiled, g, ep);
                be.Conv2dForward(t[0], t[1], null, tiledNoBias, g, ep);
            }
            be.Conv2dForward(t[0], t[1], t[2], direct, g, ep);
            // The standalone pass on a plain conv output, and the backward with and without the bias gradient.
            var pass = Tensor.Full(be, float.NaN, g.N, g.Cout, g.Hout, g.Wout);
            be.Conv2dForward(t[0], t[1], null, pass, g);
            be.BiasActivation(pass, t[2], g.N, g.Cout, hw, ep);
            var dz = Tensor.Full(be, float.NaN, g.N, g.Cout, g.Hout, g.Wout);
            var db = Tensor.Full(be, 0.5f, g.Cout);
            be.ActivationBackward(direct, t[3], dz, db, g.N, g.Cout, hw, ep);
            var dz2 = Tensor.Full(be, float.NaN, g.N, g.Cout, g.Hout, g.Wout);
            be.ActivationBackward(direct, t[3], dz2, null, g.N, g.Cout, hw, ep);
            return [tiled, tiledNoBias, direct, pass, dz, db, dz2];
        }, rtol: 1e-4, atol: 1e-5);
    }

    [Fact]
    public void FusedOpTrainsTheSameOnIlgpu()
    {
        // The whole F op (forward epilogue, dz, bias gradient, conv gradients) through the backend API on both.
        var cpu = CpuBackend.Instance;
        var x = GradCheck.Random(cpu, 5, 2, 3, 8, 8);
        var w = GradCheck.Random(cpu, 6, 4, 3, 4, 4);
        var b = GradCheck.Random(cpu, 7, 4);
        var wt = GradCheck.Random(cpu, 8, 4, 2, 4, 4);
        var bt = GradCheck.Random(cpu, 9, 2);
        foreach (var p in new[] { x, w, b, wt, bt }) p.RequiresGrad = true;
        Parity.Check(ilgpu.Backend, [x, w, b, wt, bt], (be, t) =>
        {
            var h = F.Conv2d(t[0], t[1], t[2], 2, 1, ConvEpilogue.LeakyRelu(0.2f));
            var y = F.ConvTranspose2d(h, t[3], t[4], 2, 1, ConvEpilogue.Relu);
            y.Backward(Tensor.Full(be, 1f, y.Shape));
            var outs = new[] { y, t[0].Grad!, t[1].Grad!, t[2].Grad!, t[3].Grad!, t[4].Grad! }.Select(o => o.To(be)).ToArray();
            foreach (var p in t) p.Grad = null;
            return outs;
        });
    }

    [Theory]
    [MemberData(nameof(Epilogues))]
    public void FusedLinearEpilogueTrainsTheSameOnIlgpu(ConvActivation act, float slope)
    {
        // F.Linear with an epilogue: BiasActivation and ActivationBackward over [B, out] rows (spatial size 1).
        var ep = new ConvEpilogue(act, slope);
        var cpu = CpuBackend.Instance;
        var x = GradCheck.Random(cpu, 10, 3, 5);
        var w = GradCheck.Random(cpu, 11, 19, 5);
        var b = GradCheck.Random(cpu, 12, 19);
        foreach (var p in new[] { x, w, b }) p.RequiresGrad = true;
        Parity.Check(ilgpu.Backend, [x, w, b], (be, t) =>
        {
            var y = F.Linear(t[0], t[1], t[2], ep);
            y.Backward(GradCheck.Random(be, 13, 3, 19));
            var outs = new[] { y, t[0].Grad!, t[1].Grad!, t[2].Grad! }.Select(o => o.To(be)).ToArray();
            foreach (var p in t) p.Grad = null;
            return outs;
        });
    }
}
