using System.Numerics.Tensors;
using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

/// <summary>
/// The training step's non-conv fast paths give the bits of the paths they replace (issue 10, "step overhead"):
/// the row-wise bias add and bias gradient of [N, F] tensors, and the one-pass first gradient (GradCopy).
/// </summary>
public sealed class StepOverheadTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    [InlineData(64, 1024)]
    [InlineData(13, 1037)]
    [InlineData(3, 5)]
    public void RowBiasAddAndSumGiveTheBitsOfThePerPlaneLoops(int n, int c)
    {
        var y = Awkward.Floats(1, n * c);
        var bias = Awkward.Floats(2, c);
        var db0 = Awkward.Floats(3, c);
        var yt = Tensor.FromArray(Cpu, y, n, c);
        var dbt = Tensor.FromArray(Cpu, db0, c);
        Cpu.AddChannelBias(Tensor.FromArray(Cpu, bias, c), yt, n, c, 1);
        Cpu.ChannelSum(Tensor.FromArray(Cpu, y, n, c), dbt, n, c, 1);

        // The per-plane arithmetic the hw = 1 case used to run: a float add per element, and per channel a double
        // sum of the one-element planes' TensorPrimitives.Sum in image order.
        var yRef = (float[])y.Clone();
        var dbRef = (float[])db0.Clone();
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++) yRef[i * c + ch] += bias[ch];
        for (int ch = 0; ch < c; ch++)
        {
            double s = 0;
            for (int i = 0; i < n; i++) s += TensorPrimitives.Sum(y.AsSpan(i * c + ch, 1));
            dbRef[ch] += (float)s;
        }
        Bits.AssertSame(yRef, yt.ToArray());
        Bits.AssertSame(dbRef, dbt.ToArray());
    }

    [Fact]
    public void GradCopyGivesTheBitsOfFillThenAxpby()
    {
        foreach (int len in new[] { 1, 15, 16, 1000, 300_001 })
        {
            var x = Tensor.FromArray(Cpu, Awkward.Floats(4, len), len);
            var composed = Tensor.Full(Cpu, float.NaN, len);
            Cpu.Fill(composed, 0f);
            Cpu.Axpby(x, composed, 1f, 1f);
            var fresh = Tensor.Full(Cpu, float.NaN, len);
            Cpu.GradCopy(x, fresh);
            Bits.AssertSame(composed.ToArray(), fresh.ToArray());
            Assert.DoesNotContain(fresh.ToArray(), v => v == 0f && float.IsNegative(v)); // the "+ 0" happened
        }
    }

    [Fact]
    public void FirstPassThroughGradientIsZeroPlusUpstream()
    {
        // reshape and add pass the upstream gradient through; the first one into a tensor without a gradient is now
        // written by GradCopy instead of fill + axpby: the same values, −0 turned into +0 as the addition did.
        var w = Awkward.Floats(5, 24);
        var x = Tensor.FromArray(Cpu, Awkward.Floats(6, 24), 2, 3, 4);
        x.RequiresGrad = true;
        var y = F.Add(F.Reshape(x, 6, 4), F.Reshape(x, 6, 4));
        y.Backward(Tensor.FromArray(Cpu, w, 6, 4));   // an upstream gradient with −0s
        var expect = new float[24];
        for (int i = 0; i < 24; i++)
        {
            float once = 0f + w[i];   // each pass-through into a zeroed buffer: y's, each reshape output's, then x's
            expect[i] = once + once;  // x gets both reshapes' gradients
        }
        Bits.AssertSame(expect, x.Grad!.ToArray());
    }

    [Theory]
    [InlineData(64, 32, 1024, true)]    // a Linear head: row parts each packing B (SharedB's launches cost more)
    [InlineData(64, 32, 1024, false)]
    [InlineData(1024, 32, 256, true)]   // a tall im2col-like GEMM: one shared packed B
    public void ParallelGemmGivesTheSerialBits(int m, int n, int k, bool transB)
    {
        var rng = new Random(9);
        float[] R(int len) => Enumerable.Range(0, len).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var spec = new GemmSpec(false, transB, m, n, k, Beta: 1f);
        var a = R(m * k);
        var b = R(k * n);
        var c0 = R(m * n);
        var parallel = (float[])c0.Clone();
        var serial = (float[])c0.Clone();
        CpuGemm.Sgemm(spec, a, b, parallel);
        CpuGemm.Sgemm(spec, a, b, serial, parallel: false);
        Bits.AssertSame(serial, parallel);
    }

    [Theory]
    [InlineData(4, 3, 16)]
    [InlineData(2, 5, 64)]
    [InlineData(3, 2, 7)]
    public void BatchNormOnePassLoopsGiveTheBitsOfTheLibraryPasses(int n, int c, int hw)
    {
        var rng = new Random(11);
        float[] R(int len, float lo, float hi) => Enumerable.Range(0, len).Select(_ => lo + (float)rng.NextDouble() * (hi - lo)).ToArray();
        var x = R(n * c * hw, -3, 3);
        var dy = R(n * c * hw, -1, 1);
        var dx0 = R(n * c * hw, -1, 1);
        var mean = R(c, -1, 1);
        var var = R(c, 0.1f, 2);
        var w = R(c, 0.5f, 1.5f);
        var b = R(c, -1, 1);
        var sumDy = R(c, -5, 5);
        var sumDyXhat = R(c, -5, 5);
        const float eps = 1e-5f;

        var y = new float[x.Length];
        CpuNorm.Forward(x, mean, var, w, b, y, n, c, hw, eps);
        var dx = (float[])dx0.Clone();
        CpuNorm.BackwardInput(x, dy, mean, var, w, sumDy, sumDyXhat, dx, n, c, hw, eps, batchStats: true);

        // The passes these loops replaced, per plane: Multiply then Add; MultiplyAdd, MultiplyAdd, Add.
        var yRef = new float[x.Length];
        var dxRef = (float[])dx0.Clone();
        double count = (double)n * hw;
        for (int plane = 0; plane < n * c; plane++)
        {
            int ch = plane % c;
            float scale = w[ch] / MathF.Sqrt(var[ch] + eps), shift = b[ch] - mean[ch] * scale;
            var ys = yRef.AsSpan(plane * hw, hw);
            TensorPrimitives.Multiply(x.AsSpan(plane * hw, hw), scale, ys);
            TensorPrimitives.Add(ys, shift, ys);
            double istd = 1.0 / Math.Sqrt(var[ch] + (double)eps), a = w[ch] * istd;
            double bx = -a * istd * sumDyXhat[ch] / count, k = -a * sumDy[ch] / count - bx * mean[ch];
            var ds = dxRef.AsSpan(plane * hw, hw);
            TensorPrimitives.MultiplyAdd(dy.AsSpan(plane * hw, hw), (float)a, ds, ds);
            TensorPrimitives.MultiplyAdd(x.AsSpan(plane * hw, hw), (float)bx, ds, ds);
            TensorPrimitives.Add(ds, (float)k, ds);
        }
        Bits.AssertSame(yRef, y);
        Bits.AssertSame(dxRef, dx);
    }
}

[Collection("ilgpu")]
public sealed class StepOverheadParityTests(IlgpuFixture ilgpu)
{
    [Fact]
    public void RowBiasAndGradCopyMatchCpu()
    {
        var x = GradCheck.Random(CpuBackend.Instance, 31, 5, 37);
        var bias = GradCheck.Random(CpuBackend.Instance, 32, 37);
        Parity.Check(ilgpu.Backend, [x, bias], (b, t) =>
        {
            var y = Tensor.Empty(b, t[0].Shape);
            b.GradCopy(t[0], y);
            b.AddChannelBias(t[1], y, 5, 37, 1);
            var db = Tensor.Full(b, 0.5f, 37);
            b.ChannelSum(t[0], db, 5, 37, 1);
            return [y, db];
        }, rtol: 1e-5, atol: 1e-6);
    }
}
