using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Nearest-codebook search as a tiled product with an arg-min epilogue, for the CUDA backend. With positions as rows
/// (i = n·hw + p) and codes as columns, dot[i, j] = Σ_c z[i, c]·e[j, c] is a GEMM with K = D; one group owns BM
/// positions and sweeps all codes BN at a time, the codebook slice and the z slice staged in shared memory by
/// <see cref="TileCore"/> (each code block's dots are an 8×4 register micro-tile per thread). A thread keeps, for each of
/// its 8 rows, the best (distance, code) over the columns it saw; the TX threads that share a row are then combined
/// with warp shuffles (lexicographic on (distance, code), so ties go to the lowest code as in the CPU's first strict
/// minimum). dist = (|z|² − 2 z·e) + |e|² with every sum over the channels in order, the CPU's arithmetic; the squared
/// norms come from <see cref="SquaredNorms"/>. TX must divide the warp size (a row's threads are then one aligned
/// sub-warp). CPU twin: src/NativeVq.Runtime/Cpu/Codebook.cs. Tests: TiledCodebookParityTests; bench: CodebookBench
/// and bench/gpu_check.sh (argmin 65536×512×64).
/// </summary>
public static class TiledCodebookKernels
{
    /// <summary>
    /// dst[i] = Σ_c src[img·d·hw + c·hw + p]² with i = img·hw + p, channels in order: |z|² per position of an NCHW
    /// latent, or |e|² per code of a [K, D] codebook (hw = 1).
    /// </summary>
    public static void SquaredNorms(Index1D i, ArrayView<float> src, ArrayView<float> dst, int d, int hw)
    {
        int img = i / hw, p = i - img * hw, o = img * d * hw + p;
        float s = 0f;
        for (int c = 0; c < d; c++)
        {
            float v = src[o + c * hw];
            s += v * v;
        }
        dst[i] = s;
    }

    /// <summary>
    /// indices[i] = argmin_j dist(i, j) over <paramref name="total"/> positions and k codes; norms holds |z|² at [0, total)
    /// and |e|² at [total, total + k). Grid: ceil(total/BM) groups of TX·TY threads.
    /// </summary>
    [GroupedKernel]
    public static void NearestCode(ArrayView<float> z, ArrayView<float> codebook, ArrayView<float> norms, ArrayView<int> indices,
        int d, int hw, int total, int k, TiledGemmKernels.Tile t)
    {
        var @as = SharedMemory.Allocate<float>(TileCore.SharedA);
        var bs = SharedMemory.Allocate<float>(TileCore.SharedB);
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX;
        int row0 = Grid.IdxX * t.BM, row = row0 + ty;
        var ee = norms.SubView(total, k);
        // This thread's best (distance, code) for each of its 8 rows, starting at (+∞, 0) as the CPU's scan does.
        float d0 = float.PositiveInfinity, d1 = d0, d2 = d0, d3 = d0, d4 = d0, d5 = d0, d6 = d0, d7 = d0;
        int i0 = 0, i1 = 0, i2 = 0, i3 = 0, i4 = 0, i5 = 0, i6 = 0, i7 = 0;
        for (int col0 = 0; col0 < k; col0 += t.BN)
        {
            var acc = default(MicroTile);
            TileCore.Product(ref acc, @as, bs, new Positions(z, d, hw, total), false, new Codes(codebook, d, k), true, row0, col0, 0, d, t);
            int col = col0 + tx;
            Pick(ref d0, ref i0, Zz(norms, total, row), ee, k, col, t.TX, acc.C00, acc.C01, acc.C02, acc.C03);
            Pick(ref d1, ref i1, Zz(norms, total, row + t.TY), ee, k, col, t.TX, acc.C10, acc.C11, acc.C12, acc.C13);
            Pick(ref d2, ref i2, Zz(norms, total, row + 2 * t.TY), ee, k, col, t.TX, acc.C20, acc.C21, acc.C22, acc.C23);
            Pick(ref d3, ref i3, Zz(norms, total, row + 3 * t.TY), ee, k, col, t.TX, acc.C30, acc.C31, acc.C32, acc.C33);
            Pick(ref d4, ref i4, Zz(norms, total, row + 4 * t.TY), ee, k, col, t.TX, acc.C40, acc.C41, acc.C42, acc.C43);
            Pick(ref d5, ref i5, Zz(norms, total, row + 5 * t.TY), ee, k, col, t.TX, acc.C50, acc.C51, acc.C52, acc.C53);
            Pick(ref d6, ref i6, Zz(norms, total, row + 6 * t.TY), ee, k, col, t.TX, acc.C60, acc.C61, acc.C62, acc.C63);
            Pick(ref d7, ref i7, Zz(norms, total, row + 7 * t.TY), ee, k, col, t.TX, acc.C70, acc.C71, acc.C72, acc.C73);
        }
        // Every thread of the warp takes part in the shuffles (rows past the end included); lane tx = 0 stores.
        Finish(indices, total, row, tx, t.TX, d0, i0);
        Finish(indices, total, row + t.TY, tx, t.TX, d1, i1);
        Finish(indices, total, row + 2 * t.TY, tx, t.TX, d2, i2);
        Finish(indices, total, row + 3 * t.TY, tx, t.TX, d3, i3);
        Finish(indices, total, row + 4 * t.TY, tx, t.TX, d4, i4);
        Finish(indices, total, row + 5 * t.TY, tx, t.TX, d5, i5);
        Finish(indices, total, row + 6 * t.TY, tx, t.TX, d6, i6);
        Finish(indices, total, row + 7 * t.TY, tx, t.TX, d7, i7);
    }

    private static float Zz(ArrayView<float> norms, int total, int row) => row < total ? norms[row] : 0f;

    /// <summary>Folds 4 columns (dx apart, increasing) of one row into its best with a strict "&lt;": the first minimum stays.</summary>
    private static void Pick(ref float best, ref int code, float zz, ArrayView<float> ee, int k, int col, int dx, float dot0, float dot1, float dot2, float dot3)
    {
        One(ref best, ref code, zz, ee, k, col, dot0);
        One(ref best, ref code, zz, ee, k, col + dx, dot1);
        One(ref best, ref code, zz, ee, k, col + 2 * dx, dot2);
        One(ref best, ref code, zz, ee, k, col + 3 * dx, dot3);
    }

    private static void One(ref float best, ref int code, float zz, ArrayView<float> ee, int k, int j, float dot)
    {
        if (j >= k) return;
        float dist = (zz - 2f * dot) + ee[j];
        if (dist < best) { best = dist; code = j; }
    }

    /// <summary>Arg-min of (dist, code) over the <paramref name="width"/> lanes of one row (an aligned sub-warp) by shuffles; lane 0 writes it.</summary>
    private static void Finish(ArrayView<int> indices, int total, int row, int tx, int width, float dist, int code)
    {
        for (int delta = width / 2; delta > 0; delta /= 2)
        {
            float od = Warp.ShuffleDown(dist, delta, width);
            int oc = Warp.ShuffleDown(code, delta, width);
            if (od < dist || (od == dist && oc < code)) { dist = od; code = oc; }
        }
        if (tx == 0 && row < total) indices[row] = code;
    }

    /// <summary>z[i, c] of position i = img·hw + p in an NCHW latent (as A: rows are positions, consecutive in memory).</summary>
    private readonly struct Positions(ArrayView<float> z, int d, int hw, int total) : ITileSource
    {
        public float At(int i, int c)
        {
            if (i >= total || c >= d) return 0f;
            int img = i / hw;
            return z[img * d * hw + c * hw + i - img * hw];
        }
    }

    /// <summary>e[j, c] of a [K, D] codebook (as B: column j, contiguous along c).</summary>
    private readonly struct Codes(ArrayView<float> codebook, int d, int k) : ITileSource
    {
        public float At(int j, int c) => j < k && c < d ? codebook[j * d + c] : 0f;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? _squaredNorms;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, int, TiledGemmKernels.Tile>? _nearestCodeTiled;
    private MemoryBuffer1D<float, Stride1D.Dense>? _codeNorms;

    /// <summary>
    /// The tiled arg-min (<see cref="TiledCodebookKernels"/>); false (nothing launched) when the grid exceeds the device's
    /// limits. The tile's TX must divide the warp size.
    /// </summary>
    internal bool NearestCodeTiled(Tensor z, Tensor codebook, Tensor indices, int n, int d, int hw, int k, TiledGemmKernels.Tile t)
    {
        if (Accelerator.WarpSize % t.TX != 0) throw new ArgumentException($"tile {t}: TX must divide the warp size {Accelerator.WarpSize}");
        int total = n * hw;
        var grid = new Index3D((total + t.BM - 1) / t.BM, 1, 1);
        if (!FitsGrid(grid, t)) return false;
        if (total == 0) return true;
        if (_codeNorms is null || _codeNorms.Length < total + k)
        {
            // Kernels run in order on one stream, so an earlier launch has finished with the old buffer before this one runs.
            _codeNorms?.Dispose();
            _codeNorms = Accelerator.Allocate1D<float>(total + k);
        }
        var norms = _codeNorms.View.SubView(0, total + k);
        _squaredNorms ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(TiledCodebookKernels.SquaredNorms);
        _squaredNorms(total, F(z), norms.SubView(0, total), d, hw);
        _squaredNorms(k, F(codebook), norms.SubView(total, k), d, 1);
        _nearestCodeTiled ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int, int, int, TiledGemmKernels.Tile>(TiledCodebookKernels.NearestCode);
        _nearestCodeTiled(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(z), F(codebook), norms, I(indices), d, hw, total, k, t);
        return true;
    }
}
