using System.Numerics.Tensors;
using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

/// <summary>
/// Issue 10 round 7 (the VAE step's elementwise kernels): every pass removed from the step gives the bits of the
/// composition it replaced — the fused Linear → bias → activation, a reshape handing its gradient over, the epilogue
/// backward in place, the conv-transpose input gradient written into its fresh gradient, a Linear's first input
/// gradient by a Beta 0 GEMM — and the rewritten kernels (MSE backward in one loop, Adam on 16 lanes) the bits of the old ones.
/// </summary>
public sealed class ElementwiseFusionTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    private static Tensor T(int seed, params int[] shape) => Tensor.FromArray(Cpu, Awkward.Floats(seed, ShapeUtil.Numel(shape)), shape);

    public static IEnumerable<object[]> LinearCases()
    {
        foreach (var ep in new[] { ConvEpilogue.Relu, ConvEpilogue.LeakyRelu(0.2f), ConvEpilogue.Elu })
        {
            yield return [ep, 64, 32, 1024];  // the VAE decoder head
            yield return [ep, 5, 7, 37];      // rows that are no multiple of 16
            yield return [ep, 3, 4, 1];
        }
    }

    private static Tensor Activation(Tensor x, ConvEpilogue ep) => ep.Activation switch
    {
        ConvActivation.Relu => F.Relu(x),
        ConvActivation.LeakyRelu => F.LeakyRelu(x, ep.Slope),
        _ => F.Elu(x),
    };

    [Theory]
    [MemberData(nameof(LinearCases))]
    public void FusedLinearActivationGivesTheBitsOfTheActivationOfTheLinear(ConvEpilogue ep, int batch, int inF, int outF)
    {
        using var scope = new TensorScope();
        var up = T(9, batch, outF);
        (float[] Y, float[] Dx, float[] Dw, float[] Db) Run(bool fused)
        {
            var x = T(1, batch, inF);
            var w = T(2, outF, inF);
            var b = T(3, outF);
            foreach (var p in new[] { x, w, b }) p.RequiresGrad = true;
            // x enters through a product so it is an intermediate (its first gradient takes the Beta 0 GEMM too).
            var xi = F.Scale(x, 1f);
            var y = fused ? F.Linear(xi, w, b, ep) : Activation(F.Linear(xi, w, b), ep);
            var yv = y.ToArray();
            y.Backward(up);
            return (yv, x.Grad!.ToArray(), w.Grad!.ToArray(), b.Grad!.ToArray());
        }
        var f = Run(true);
        var u = Run(false);
        Bits.AssertSame(u.Y, f.Y);
        Bits.AssertSame(u.Dx, f.Dx);
        Bits.AssertSame(u.Dw, f.Dw);
        Bits.AssertSame(u.Db, f.Db);
    }

    [Fact]
    public void FusedLinearActivationPassesTheGradientCheck()
    {
        var x = GradCheck.RandomAwayFromZero(Cpu, 1, 0.05f, 4, 6);
        var w = GradCheck.Random(Cpu, 2, 5, 6);
        var b = GradCheck.Random(Cpu, 3, 5);
        GradCheck.Check(t => F.Linear(t[0], t[1], t[2], ConvEpilogue.LeakyRelu(0.1f)), [x, w, b]);
        GradCheck.Check(t => F.Linear(t[0], t[1], t[2], ConvEpilogue.Elu), [x, w, b]);
    }

    [Theory]
    [InlineData(64, 32, 1024)]
    [InlineData(7, 5, 33)]
    public void FirstInputGradientByBetaZeroGemmIsTheFillThenAccumulate(int m, int n, int k)
    {
        // dx = dz·w written into a fresh buffer (Beta 0) against the zero-filled buffer accumulated into (Beta 1).
        var dz = T(4, m, k);
        var w = T(5, k, n);
        var fresh = Tensor.Full(Cpu, float.NaN, m, n);
        Cpu.Gemm(new GemmSpec(false, false, m, n, k), dz, w, fresh);
        var filled = Tensor.Zeros(Cpu, m, n);
        Cpu.Gemm(new GemmSpec(false, false, m, n, k, Beta: 1f), dz, w, filled);
        Bits.AssertSame(filled.ToArray(), fresh.ToArray());
    }

    [Fact]
    public void ConvTransposeInputGradientIsTheConvWithoutTheCopy()
    {
        using var scope = new TensorScope();
        var x = T(1, 3, 4, 4, 4);
        var w = T(2, 4, 2, 4, 4);
        x.RequiresGrad = true;
        var xi = F.Scale(x, 1f);               // an intermediate: its first gradient is written by the conv
        var y = F.ConvTranspose2d(xi, w, null, 2, 1);
        var up = T(3, y.Shape);                // an upstream gradient with −0s
        y.Backward(up);
        // The old path: the conv into a temporary, then GradCopy (0 + dx) into the fresh gradient.
        var g = new ConvGeom(3, 2, 8, 8, 4, 4, 4, 2, 2, 1, 1, 4, 4);
        var dx = Tensor.Empty(Cpu, 3, 4, 4, 4);
        Cpu.Conv2dForward(up, w, null, dx, g);
        var copied = Tensor.Full(Cpu, float.NaN, 3, 4, 4, 4);
        Cpu.GradCopy(dx, copied);
        Bits.AssertSame(copied.ToArray(), x.Grad!.ToArray());
    }

    [Fact]
    public void ReshapeHandsItsGradientOverWithTheBitsOfTheCopy()
    {
        using var scope = new TensorScope();
        var x = T(1, 2, 3, 4);
        x.RequiresGrad = true;
        var xi = F.Scale(x, 1f);
        var r = F.Reshape(xi, 6, 4);
        var y = F.Relu(r);                     // r's gradient: 0 + relu'·dy, handed to xi by the reshape
        var up = T(2, 6, 4);
        y.Backward(up);
        var xa = x.ToArray();
        var expect = new float[24];
        for (int i = 0; i < 24; i++)
        {
            float gr = 0f + (xa[i] > 0f ? up.ToArray()[i] : 0f);   // relu backward into a zeroed buffer
            float gxi = 0f + gr;                                    // the reshape's GradCopy it replaces
            expect[i] = 0f + gxi * 1f;                              // scale's backward into x's zeroed gradient
        }
        Bits.AssertSame(expect, x.Grad!.ToArray());
    }

    [Fact]
    public void RootAndLeafGradientsAreNeverTakenOrOverwritten()
    {
        using var scope = new TensorScope();
        // A reshape as the root keeps its gradient; a leaf under a reshape gets its own (unscoped) gradient.
        var leaf = T(1, 2, 8);
        leaf.RequiresGrad = true;
        var root = F.Reshape(leaf, 4, 4);
        var up = T(2, 4, 4);
        root.Backward(up);
        Bits.AssertSame(up.ToArray().Select(v => 0f + v).ToArray(), root.Grad!.ToArray());
        Bits.AssertSame(up.ToArray().Select(v => 0f + v).ToArray(), leaf.Grad!.ToArray());
        Assert.NotSame(root.Grad!.Memory, leaf.Grad!.Memory);

        // A fused conv as the root: its epilogue backward must not overwrite the root's gradient in place.
        var x = T(3, 1, 2, 6, 6);
        var w = T(4, 3, 2, 3, 3);
        var bias = T(5, 3);
        foreach (var p in new[] { x, w, bias }) p.RequiresGrad = true;
        var y = F.Conv2d(x, w, bias, 1, 1, ConvEpilogue.Relu);
        var dy = T(6, y.Shape);
        y.Backward(dy);
        Bits.AssertSame(dy.ToArray().Select(v => 0f + v).ToArray(), y.Grad!.ToArray());
    }

    [Fact]
    public void EpilogueBackwardInPlaceGivesTheBitsOfTheFreshBuffer()
    {
        // Through the graph: a fused conv under another op, so its output gradient dies with it and is overwritten.
        (float[] Dx, float[] Dw, float[] Db) Run(bool fused)
        {
            using var scope = new TensorScope();
            var x = T(1, 2, 3, 8, 8);
            var w = T(2, 4, 3, 3, 3);
            var b = T(3, 4);
            foreach (var p in new[] { x, w, b }) p.RequiresGrad = true;
            var h = fused ? F.Conv2d(x, w, b, 1, 1, ConvEpilogue.Relu) : F.Relu(F.Conv2d(x, w, b, 1, 1));
            var y = F.Scale(h, 1.5f);
            y.Backward(T(4, y.Shape));
            var r = (x.Grad!.ToArray(), w.Grad!.ToArray(), b.Grad!.ToArray());
            foreach (var p in new[] { x, w, b }) { p.Grad!.Dispose(); }
            return r;
        }
        var f = Run(true);
        var u = Run(false);
        Bits.AssertSame(u.Dx, f.Dx);
        Bits.AssertSame(u.Dw, f.Dw);
        Bits.AssertSame(u.Db, f.Db);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(1024)]
    [InlineData(1037)]
    [InlineData(70_000)]
    public void MseBackwardInOneLoopGivesTheBitsOfTheLibraryPasses(int n)
    {
        var a = Awkward.Floats(1, n);
        var b = Awkward.Floats(2, n);
        foreach (var (withDa, withDb) in new[] { (true, false), (false, true), (true, true) })
        {
            var da = Awkward.Floats(3, n);
            var db = Awkward.Floats(4, n);
            float upstream = -0.75f, s = upstream / n;
            var daRef = (float[])da.Clone();
            var dbRef = (float[])db.Clone();
            var tv = new float[1024];
            for (int o = 0; o < n; o += 1024)
            {
                int len = Math.Min(1024, n - o);
                var t = tv.AsSpan(0, len);
                TensorPrimitives.Subtract(a.AsSpan(o, len), b.AsSpan(o, len), t);
                TensorPrimitives.Multiply(t, 2f * s, t);
                if (withDa) TensorPrimitives.Add(daRef.AsSpan(o, len), t, daRef.AsSpan(o, len));
                if (withDb) TensorPrimitives.Subtract(dbRef.AsSpan(o, len), t, dbRef.AsSpan(o, len));
            }
            CpuLoss.Backward(PairLoss.Mse, a, b, upstream, withDa ? da : Span<float>.Empty, withDb ? db : Span<float>.Empty);
            Bits.AssertSame(daRef, da);
            Bits.AssertSame(dbRef, db);
        }
    }

    [Theory]
    [InlineData(1, 0f)]
    [InlineData(15, 0f)]
    [InlineData(33, 0.01f)]
    [InlineData(1037, 0f)]
    [InlineData(70_000, 0.01f)]
    public void AdamOnSixteenLanesGivesTheBitsOfTheScalarUpdate(int n, float wd)
    {
        var rng = new Random(n);
        float[] R(float scale) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
        float[] p = R(1f), g = R(0.1f), m = R(0.01f), v = R(0.001f).Select(Math.Abs).ToArray();
        var a = AdamArgs.ForStep(1e-3, 0.9, 0.999, 1e-8, wd, 3);
        float[] pr = (float[])p.Clone(), mr = (float[])m.Clone(), vr = (float[])v.Clone();
        for (int i = 0; i < n; i++)
        {
            float gi = g[i];
            if (a.WeightDecay != 0f) gi += pr[i] * a.WeightDecay;
            float mi = mr[i] * a.Beta1 + gi * a.OneMinusBeta1;
            float vi = vr[i] * a.Beta2 + (gi * gi) * a.OneMinusBeta2;
            float denom = MathF.Sqrt(vi) / a.Bc2Sqrt + a.Eps;
            pr[i] -= a.StepSize * (mi / denom);
            mr[i] = mi;
            vr[i] = vi;
        }
        CpuOptim.AdamStep(p, g, m, v, a);
        Bits.AssertSame(pr, p);
        Bits.AssertSame(mr, m);
        Bits.AssertSame(vr, v);
    }
}
