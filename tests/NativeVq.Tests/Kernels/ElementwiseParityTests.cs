using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>The elementwise and GEMM ILGPU kernels on the CPU accelerator against the cpu backend.</summary>
[Collection("ilgpu")]
public sealed class ElementwiseParityTests(IlgpuFixture ilgpu)
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Theory]
    [InlineData(UnaryOp.Relu)]
    [InlineData(UnaryOp.Elu)]
    [InlineData(UnaryOp.Sigmoid)]
    [InlineData(UnaryOp.Tanh)]
    [InlineData(UnaryOp.Exp)]
    public void UnaryForwardAndBackward(UnaryOp op)
    {
        var x = GradCheck.Random(Cpu, 11, -3f, 3f, 2, 3, 17);
        x.RequiresGrad = true;
        Parity.Check(ilgpu.Backend, [x], (b, t) =>
        {
            var y = Tensor.Empty(b, t[0].Shape);
            b.Unary(op, t[0], y);
            var dx = Tensor.Full(b, 0.5f, t[0].Shape);
            b.UnaryBackward(op, t[0], y, y, dx);
            return [y, dx];
        });
    }

    [Fact]
    public void BinaryAxpbyFill()
    {
        var a = GradCheck.Random(Cpu, 12, 5, 13);
        var c = GradCheck.Random(Cpu, 13, 5, 13);
        Parity.Check(ilgpu.Backend, [a, c], (b, t) =>
        {
            var outs = new List<Tensor>();
            foreach (var op in new[] { BinaryOp.Add, BinaryOp.Sub, BinaryOp.Mul })
            {
                var y = Tensor.Empty(b, t[0].Shape);
                b.Binary(op, t[0], t[1], y);
                outs.Add(y);
            }
            var z = Tensor.Full(b, 2f, t[0].Shape);
            b.Axpby(t[0], z, 0.3f, -1.5f);
            b.MulAccumulate(t[0], t[1], z);
            outs.Add(z);
            return outs.ToArray();
        });
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void Gemm(bool ta, bool tb)
    {
        int batch = 2, m = 7, n = 9, k = 5;
        var a = GradCheck.Random(Cpu, 14, batch, m * k);
        var bm = GradCheck.Random(Cpu, 15, batch, k * n);
        var c0 = GradCheck.Random(Cpu, 16, batch, m * n);
        Parity.Check(ilgpu.Backend, [a, bm, c0], (b, t) =>
        {
            var c = Tensor.Empty(b, t[2].Shape);
            b.Axpby(t[2], c, 1f, 0f); // the run must not modify its inputs: the other backend reads them next
            b.Gemm(new GemmSpec(ta, tb, m, n, k, 0.7f, 0.5f, batch, m * k, k * n, m * n), t[0], t[1], c);
            return [c];
        });
    }
}
