using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The shared-memory tiled GEMM on the CPU accelerator against the cpu SGEMM: every layout, shapes that are not
/// multiples of the tile (partial tiles in M, N and K), alpha/beta, batched strides with gaps, and a C poisoned
/// with NaN so an element the kernel forgets (or reads when beta = 0) shows.
/// </summary>
[Collection("ilgpu")]
public sealed class TiledGemmParityTests(IlgpuFixture ilgpu)
{
    private static readonly TiledGemmKernels.Tile Small = new(4, 4, 4);   // 32×16×4, 16 threads
    private static readonly TiledGemmKernels.Tile Odd = new(2, 3, 3);     // 24×8×3, 6 threads

    private static float[] Rand(int seed, int n)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    private void Check(GemmSpec s, TiledGemmKernels.Tile tile, int seed)
    {
        int la = (s.Batch - 1) * s.StrideA + s.M * s.K, lb = (s.Batch - 1) * s.StrideB + s.K * s.N, lc = (s.Batch - 1) * s.StrideC + s.M * s.N;
        var a = Rand(seed, la); var b = Rand(seed + 1, lb); var c0 = Rand(seed + 2, lc);
        if (s.Beta == 0f)
        {
            // Poison C where the kernel must overwrite without reading; the stride gaps keep their poison too.
            Array.Fill(c0, float.NaN);
        }
        var cpuC = Tensor.FromArray(CpuBackend.Instance, (float[])c0.Clone(), lc);
        CpuBackend.Instance.Gemm(s, Tensor.FromArray(CpuBackend.Instance, a, la), Tensor.FromArray(CpuBackend.Instance, b, lb), cpuC);
        var be = ilgpu.Backend;
        using var scope = new TensorScope();
        var gpuC = Tensor.FromArray(be, (float[])c0.Clone(), lc);
        Assert.True(be.GemmTiled(s, Tensor.FromArray(be, a, la), Tensor.FromArray(be, b, lb), gpuC, tile));
        var want = cpuC.ToArray(); var got = gpuC.ToArray();
        double tol = 1e-5 * Math.Max(1, s.K) + 1e-5;
        for (int i = 0; i < want.Length; i++)
        {
            if (float.IsNaN(want[i])) { Assert.True(float.IsNaN(got[i]), $"{s}: element {i} outside C was written"); continue; }
            Assert.True(Math.Abs(want[i] - got[i]) <= tol * Math.Max(1, Math.Abs(want[i])), $"{s} tile {tile}: element {i} = {got[i]}, cpu {want[i]}");
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(32, 16, 4)]
    [InlineData(37, 45, 29)]
    [InlineData(5, 70, 9)]
    [InlineData(70, 3, 13)]
    public void MatchesCpuEveryLayout(int m, int n, int k)
    {
        foreach (var ta in new[] { false, true })
            foreach (var tb in new[] { false, true })
            {
                Check(new GemmSpec(ta, tb, m, n, k), Small, 1);
                Check(new GemmSpec(ta, tb, m, n, k, 0.75f, -0.5f), Odd, 2);
            }
    }

    [Fact]
    public void BatchedWithStrideGapsAndSharedB()
    {
        Check(new GemmSpec(false, true, 19, 21, 11, 1f, 0f, 3, 19 * 11 + 3, 21 * 11 + 1, 19 * 21 + 2), Small, 3);
        Check(new GemmSpec(true, false, 9, 17, 6, 0.5f, 2f, 4, 9 * 6, 0, 9 * 17), Odd, 4);
    }

    [Fact]
    public void ZeroKScalesC()
    {
        Check(new GemmSpec(false, false, 5, 6, 0, 1f, 0.5f), Small, 5);
        Check(new GemmSpec(false, false, 5, 6, 0, 1f, 0f), Small, 6);
    }

    [Fact]
    public void ModelOpsMatchCpuWithTheTiledBackendGemm()
    {
        // What cuda does: Backend.Gemm (here under a linear layer's forward and backward) through the tiled kernel.
        Assert.False(ilgpu.Backend.UseTiledGemm); // the simulator's default
        ilgpu.Backend.UseTiledGemm = true;
        try
        {
            var x = GradCheck.Random(CpuBackend.Instance, 7, 33, 20);
            var w = GradCheck.Random(CpuBackend.Instance, 8, 18, 20);
            x.RequiresGrad = w.RequiresGrad = true;
            Parity.Check(ilgpu.Backend, [x, w], (be, t) =>
            {
                var y = F.Linear(t[0], t[1]);
                y.Backward(Tensor.Full(be, 0.5f, 33, 18));
                return [y, t[0].Grad!, t[1].Grad!];
            });
        }
        finally { ilgpu.Backend.UseTiledGemm = false; }
    }

    [Fact]
    public void RejectsATileLargerThanTheKernelAllows()
    {
        var be = ilgpu.Backend;
        var t = Tensor.Zeros(be, 4);
        Assert.Throws<ArgumentException>(() => be.GemmTiled(new GemmSpec(false, false, 2, 2, 1), t, t, t, new TiledGemmKernels.Tile(32, 4, 4)));
    }
}
