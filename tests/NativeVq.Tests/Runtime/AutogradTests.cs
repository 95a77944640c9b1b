using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Runtime;

public sealed class AutogradTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Fact]
    public void GradientsAccumulateAcrossBackwardCallsUntilZeroed()
    {
        var x = Tensor.FromArray(Cpu, new float[] { 1, 2, 3 }, 3);
        x.RequiresGrad = true;
        for (int i = 0; i < 2; i++)
        {
            using var scope = new TensorScope();
            F.Mul(x, x).Backward(Tensor.Full(Cpu, 1f, 3));
        }
        Assert.Equal(new float[] { 4, 8, 12 }, x.Grad!.ToArray());
        x.ZeroGrad();
        Assert.Equal(new float[] { 0, 0, 0 }, x.Grad!.ToArray());
    }

    [Fact]
    public void DiamondGraphRunsEachBackwardOnce()
    {
        // y = a·a + a: dy/da = 2a + 1; a node used twice must receive both contributions before it propagates.
        var x = Tensor.FromArray(Cpu, new float[] { 3 }, 1);
        x.RequiresGrad = true;
        var a = F.Scale(x, 2f);
        var y = F.Add(F.Mul(a, a), a);
        y.Backward();
        Assert.Equal(2f * (2f * 6f + 1f), x.Grad!.Item());
    }

    [Fact]
    public void NoGradRecordsNothing()
    {
        var x = Tensor.FromArray(Cpu, new float[] { 1 }, 1);
        x.RequiresGrad = true;
        using (Autograd.NoGrad())
        {
            var y = F.Mul(x, x);
            Assert.False(y.RequiresGrad);
            Assert.Throws<InvalidOperationException>(() => y.Backward());
        }
        Assert.True(F.Mul(x, x).RequiresGrad);
    }

    [Fact]
    public void ScopeReturnsBuffersSoASteadyStepAllocatesNothing()
    {
        var backend = new CpuBackend();
        var w = Tensor.FromArray(backend, new float[64], 8, 8);
        w.RequiresGrad = true;
        void Step()
        {
            using var scope = new TensorScope();
            var y = F.Tanh(F.Matmul(w, w));
            y.Backward(Tensor.Full(backend, 1f, 8, 8));
        }
        Step();
        long after1 = backend.Pool.Allocations;
        Step();
        Step();
        Assert.Equal(after1, backend.Pool.Allocations);
        Assert.True(backend.Pool.Rents > after1);
        Assert.NotNull(w.Grad);
        Assert.False(w.Grad!.IsDisposed);
    }
}
