using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Batched row-major GEMM, one thread per output element of C (batch · M · N threads).
/// CPU twin: src/NativeVq.Runtime/Cpu/Gemm.cs.
/// </summary>
public static class GemmKernels
{
    /// <summary><see cref="GemmSpec"/> as kernel arguments (ILGPU needs blittable fields: no bool).</summary>
    public readonly record struct Args(int TransA, int TransB, int M, int N, int K, float Alpha, float Beta, int StrideA, int StrideB, int StrideC)
    {
        public Args(in GemmSpec s) : this(s.TransA ? 1 : 0, s.TransB ? 1 : 0, s.M, s.N, s.K, s.Alpha, s.Beta, s.StrideA, s.StrideB, s.StrideC) { }
    }

    public static void Gemm(Index1D index, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, Args s)
    {
        int mn = s.M * s.N;
        int batch = index / mn, r = index - batch * mn, i = r / s.N, j = r - i * s.N;
        int ao = batch * s.StrideA, bo = batch * s.StrideB;
        float acc = 0f;
        for (int k = 0; k < s.K; k++)
        {
            float av = s.TransA != 0 ? a[ao + k * s.M + i] : a[ao + i * s.K + k];
            float bv = s.TransB != 0 ? b[bo + j * s.K + k] : b[bo + k * s.N + j];
            acc += av * bv;
        }
        int ci = batch * s.StrideC + r;
        c[ci] = s.Beta == 0f ? s.Alpha * acc : s.Alpha * acc + s.Beta * c[ci];
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmKernels.Args>? _gemm;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmKernels.Args, TiledGemmKernels.Tile>? _gemmTiled;

    /// <summary>
    /// The tiled GEMM's tile here: 16×16 threads (128×64×16) on a GPU; 4×4 threads (32×16×4) on the CPU simulator,
    /// whose groups hold at most 16 threads.
    /// </summary>
    internal TiledGemmKernels.Tile GemmTile => Accelerator.MaxNumThreadsPerGroup >= 256 ? new(16, 16, 16) : new(4, 4, 4);

    /// <summary>
    /// Whether <see cref="Backend.Gemm"/> (and the convolutions, TiledConvKernels, and the arg-min, TiledCodebookKernels) take the tiled
    /// kernels: on CUDA. The CPU simulator runs each thread of a group
    /// as an OS thread and pays for every barrier (the tiled kernel is ~8× slower there than the naive one at 48³), so
    /// ilgpu-cpu keeps the naive kernel unless a test switches this on; the tiled kernel's own parity tests call it directly.
    /// </summary>
    internal bool UseTiledGemm { get; set; }

    protected override void GemmCore(in GemmSpec s, Tensor a, Tensor b, Tensor c)
    {
        if (!UseTiledGemm || !GemmTiled(s, a, b, c, GemmTile)) GemmNaive(s, a, b, c);
    }

    /// <summary>The one-thread-per-element kernel (kept as the baseline the benchmarks compare against).</summary>
    internal void GemmNaive(in GemmSpec s, Tensor a, Tensor b, Tensor c)
    {
        int n = s.Batch * s.M * s.N;
        if (n == 0) return;
        _gemm ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmKernels.Args>(GemmKernels.Gemm);
        _gemm(n, F(a), F(b), F(c), new GemmKernels.Args(s));
    }

    /// <summary>Whether a grid of tiled groups can launch here; a tile the kernels cannot hold is a programming error.</summary>
    private bool FitsGrid(Index3D grid, TiledGemmKernels.Tile t)
    {
        if (!t.Fits || t.Threads > Accelerator.MaxNumThreadsPerGroup) throw new ArgumentException($"tile {t} does not fit the tiled kernels or this device");
        var max = Accelerator.MaxGridSize;
        return grid.X <= max.X && grid.Y <= max.Y && grid.Z <= max.Z;
    }

    /// <summary>Runs the tiled kernel; false (nothing launched) when the grid would exceed the device's limits.</summary>
    internal bool GemmTiled(in GemmSpec s, Tensor a, Tensor b, Tensor c, TiledGemmKernels.Tile t)
    {
        var grid = new Index3D((s.N + t.BN - 1) / t.BN, (s.M + t.BM - 1) / t.BM, s.Batch);
        if (!FitsGrid(grid, t)) return false;
        if (s.Batch * s.M * s.N == 0) return true;
        _gemmTiled ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmKernels.Args, TiledGemmKernels.Tile>(TiledGemmKernels.Gemm);
        _gemmTiled(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(a), F(b), F(c), new GemmKernels.Args(s), t);
        return true;
    }
}
