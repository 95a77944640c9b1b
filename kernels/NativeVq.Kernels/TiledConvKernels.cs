using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Convolution as an implicit GEMM on the tiled GEMM's scheme (<see cref="TiledGemmKernels"/>: TX×TY threads, an
/// 8×4 register micro-tile each, BK slices staged in shared memory): the im2col matrix is never built in global
/// memory — each element of a tile is gathered from x when the tile is staged. Same results as the direct kernels
/// of <see cref="ConvKernels"/> (up to summation order). CPU twin: src/NativeVq.Runtime/Cpu/Conv.cs (im2col + GEMM).
/// Tests: TiledConvParityTests; bench: ConvBench and bench/gpu_check.sh.
/// </summary>
public static class TiledConvKernels
{
    /// <summary>
    /// Forward: per image, Y[o, p] = Σ_k W[o, k]·X_col[k, p] with M = Cout, N = Hout·Wout, K = Cin·KH·KW; the
    /// X_col tile is gathered from x straight into shared memory (zero outside the image). Overwrites y. Grid:
    /// (ceil(N/BN), ceil(Cout/BM), images).
    /// </summary>
    [GroupedKernel]
    public static void Forward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, ConvGeom g, TiledGemmKernels.Tile t)
    {
        var as_ = SharedMemory.Allocate<float>(TiledGemmKernels.MaxBK * (TiledGemmKernels.MaxBM + 1));
        var bs = SharedMemory.Allocate<float>(TiledGemmKernels.MaxBK * (TiledGemmKernels.MaxBN + 1));
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX, nt = t.TX * t.TY;
        int bm = t.BM, bn = t.BN, lda = bm + 1, ldb = bn + 1;
        int row0 = Grid.IdxY * bm, col0 = Grid.IdxX * bn, img = Grid.IdxZ;
        int m = g.Cout, n = g.Hout * g.Wout, kdim = g.Cin * g.KH * g.KW, khw = g.KH * g.KW;
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f, c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f, c40 = 0f, c41 = 0f, c42 = 0f, c43 = 0f, c50 = 0f, c51 = 0f, c52 = 0f, c53 = 0f, c60 = 0f, c61 = 0f, c62 = 0f, c63 = 0f, c70 = 0f, c71 = 0f, c72 = 0f, c73 = 0f;
        float av;
        for (int k0 = 0; k0 < kdim; k0 += t.BK)
        {
            for (int e = tid; e < bm * t.BK; e += nt)
            {
                int k = e % t.BK, i = e / t.BK, gi = row0 + i, gk = k0 + k;
                as_[k * lda + i] = gi < m && gk < kdim ? w[gi * kdim + gk] : 0f;
            }
            for (int e = tid; e < bn * t.BK; e += nt)
            {
                int j = e % bn, k = e / bn, gj = col0 + j, gk = k0 + k;
                bs[k * ldb + j] = gj < n && gk < kdim ? Im2ColAt(x, g, img, gk, gj, khw) : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < t.BK; kk++)
            {
                int ab = kk * lda + ty, bb = kk * ldb + tx;
                float b0 = bs[bb], b1 = bs[bb + t.TX], b2 = bs[bb + 2 * t.TX], b3 = bs[bb + 3 * t.TX];
                av = as_[ab]; c00 += av * b0; c01 += av * b1; c02 += av * b2; c03 += av * b3;
                av = as_[ab + 1 * t.TY]; c10 += av * b0; c11 += av * b1; c12 += av * b2; c13 += av * b3;
                av = as_[ab + 2 * t.TY]; c20 += av * b0; c21 += av * b1; c22 += av * b2; c23 += av * b3;
                av = as_[ab + 3 * t.TY]; c30 += av * b0; c31 += av * b1; c32 += av * b2; c33 += av * b3;
                av = as_[ab + 4 * t.TY]; c40 += av * b0; c41 += av * b1; c42 += av * b2; c43 += av * b3;
                av = as_[ab + 5 * t.TY]; c50 += av * b0; c51 += av * b1; c52 += av * b2; c53 += av * b3;
                av = as_[ab + 6 * t.TY]; c60 += av * b0; c61 += av * b1; c62 += av * b2; c63 += av * b3;
                av = as_[ab + 7 * t.TY]; c70 += av * b0; c71 += av * b1; c72 += av * b2; c73 += av * b3;
            }
            Group.Barrier();
        }
        int row = row0 + ty, col = col0 + tx;
        StoreY(y, g, img, m, n, row + 0 * t.TY, col, t.TX, c00, c01, c02, c03);
        StoreY(y, g, img, m, n, row + 1 * t.TY, col, t.TX, c10, c11, c12, c13);
        StoreY(y, g, img, m, n, row + 2 * t.TY, col, t.TX, c20, c21, c22, c23);
        StoreY(y, g, img, m, n, row + 3 * t.TY, col, t.TX, c30, c31, c32, c33);
        StoreY(y, g, img, m, n, row + 4 * t.TY, col, t.TX, c40, c41, c42, c43);
        StoreY(y, g, img, m, n, row + 5 * t.TY, col, t.TX, c50, c51, c52, c53);
        StoreY(y, g, img, m, n, row + 6 * t.TY, col, t.TX, c60, c61, c62, c63);
        StoreY(y, g, img, m, n, row + 7 * t.TY, col, t.TX, c70, c71, c72, c73);
    }

    /// <summary>
    /// Weight gradient, split-K: dW[o, k] = Σ_(n,p) dY[n, o, p]·X_col[n][k, p] with M = Cout, N = Cin·KH·KW and the
    /// reduction over every image and output pixel (N·Hout·Wout long), cut into Grid.Z pieces of splitLen so that even a
    /// 128×1152 gradient fills the GPU; piece z writes its partial sums to partial[z·M·N ..] (overwrites) and
    /// <see cref="SumSplits"/> adds the pieces to dw in a fixed order (deterministic, no atomics). Both tiles are
    /// gathered (dY's by pixel, X_col's from x). Grid: (ceil(Cin·KH·KW/BN), ceil(Cout/BM), splits).
    /// </summary>
    [GroupedKernel]
    public static void BackwardWeightSplit(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> partial, ConvGeom g, TiledGemmKernels.Tile t, int splitLen)
    {
        var as_ = SharedMemory.Allocate<float>(TiledGemmKernels.MaxBK * (TiledGemmKernels.MaxBM + 1));
        var bs = SharedMemory.Allocate<float>(TiledGemmKernels.MaxBK * (TiledGemmKernels.MaxBN + 1));
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX, nt = t.TX * t.TY;
        int bm = t.BM, bn = t.BN, lda = bm + 1, ldb = bn + 1;
        int row0 = Grid.IdxY * bm, col0 = Grid.IdxX * bn, split = Grid.IdxZ;
        int m = g.Cout, ncol = g.Cin * g.KH * g.KW, p = g.Hout * g.Wout, red = g.N * p, khw = g.KH * g.KW;
        int kBegin = split * splitLen, kEnd = XMin(red, kBegin + splitLen);
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f, c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f, c40 = 0f, c41 = 0f, c42 = 0f, c43 = 0f, c50 = 0f, c51 = 0f, c52 = 0f, c53 = 0f, c60 = 0f, c61 = 0f, c62 = 0f, c63 = 0f, c70 = 0f, c71 = 0f, c72 = 0f, c73 = 0f;
        float av;
        for (int k0 = kBegin; k0 < kEnd; k0 += t.BK)
        {
            for (int e = tid; e < bm * t.BK; e += nt)
            {
                int k = e % t.BK, i = e / t.BK, gi = row0 + i, gk = k0 + k;
                float v = 0f;
                if (gi < m && gk < kEnd) { int ni = gk / p; v = dy[(ni * m + gi) * p + gk - ni * p]; }
                as_[k * lda + i] = v;
            }
            for (int e = tid; e < bn * t.BK; e += nt)
            {
                int j = e % bn, k = e / bn, gj = col0 + j, gk = k0 + k;
                float v = 0f;
                if (gj < ncol && gk < kEnd) { int ni = gk / p; v = Im2ColAt(x, g, ni, gj, gk - ni * p, khw); }
                bs[k * ldb + j] = v;
            }
            Group.Barrier();
            for (int kk = 0; kk < t.BK; kk++)
            {
                int ab = kk * lda + ty, bb = kk * ldb + tx;
                float b0 = bs[bb], b1 = bs[bb + t.TX], b2 = bs[bb + 2 * t.TX], b3 = bs[bb + 3 * t.TX];
                av = as_[ab]; c00 += av * b0; c01 += av * b1; c02 += av * b2; c03 += av * b3;
                av = as_[ab + 1 * t.TY]; c10 += av * b0; c11 += av * b1; c12 += av * b2; c13 += av * b3;
                av = as_[ab + 2 * t.TY]; c20 += av * b0; c21 += av * b1; c22 += av * b2; c23 += av * b3;
                av = as_[ab + 3 * t.TY]; c30 += av * b0; c31 += av * b1; c32 += av * b2; c33 += av * b3;
                av = as_[ab + 4 * t.TY]; c40 += av * b0; c41 += av * b1; c42 += av * b2; c43 += av * b3;
                av = as_[ab + 5 * t.TY]; c50 += av * b0; c51 += av * b1; c52 += av * b2; c53 += av * b3;
                av = as_[ab + 6 * t.TY]; c60 += av * b0; c61 += av * b1; c62 += av * b2; c63 += av * b3;
                av = as_[ab + 7 * t.TY]; c70 += av * b0; c71 += av * b1; c72 += av * b2; c73 += av * b3;
            }
            Group.Barrier();
        }
        int row = row0 + ty, col = col0 + tx;
        StorePartial(partial, split * m * ncol, m, ncol, row + 0 * t.TY, col, t.TX, c00, c01, c02, c03);
        StorePartial(partial, split * m * ncol, m, ncol, row + 1 * t.TY, col, t.TX, c10, c11, c12, c13);
        StorePartial(partial, split * m * ncol, m, ncol, row + 2 * t.TY, col, t.TX, c20, c21, c22, c23);
        StorePartial(partial, split * m * ncol, m, ncol, row + 3 * t.TY, col, t.TX, c30, c31, c32, c33);
        StorePartial(partial, split * m * ncol, m, ncol, row + 4 * t.TY, col, t.TX, c40, c41, c42, c43);
        StorePartial(partial, split * m * ncol, m, ncol, row + 5 * t.TY, col, t.TX, c50, c51, c52, c53);
        StorePartial(partial, split * m * ncol, m, ncol, row + 6 * t.TY, col, t.TX, c60, c61, c62, c63);
        StorePartial(partial, split * m * ncol, m, ncol, row + 7 * t.TY, col, t.TX, c70, c71, c72, c73);
    }

    /// <summary>
    /// Input gradient: per image, dX[c, q] += Σ_k Wᵀ[c, k]·dY_col[k, q] with M = Cin, N = H·W (input pixels),
    /// K = Cout·KH·KW; Wᵀ[c, (o, u, v)] = w[o, c, u, v] and dY_col[(o, u, v), (ih, iw)] = dy[o, (ih + padTop − u)/sh,
    /// (iw + padLeft − v)/sw] where both divisions are exact and in range, else 0 — the transposed convolution as a
    /// gather, so each dx element is written by one thread (no atomics). At stride 1 every tap contributes; at
    /// stride s only 1/(sh·sw) of the K range is non-zero for a given pixel (the CPU's per-phase decomposition,
    /// ConvBackwardInputGemm.cs, avoids that waste; not done here yet). Accumulates into dx.
    /// Grid: (ceil(H·W/BN), ceil(Cin/BM), images).
    /// </summary>
    [GroupedKernel]
    public static void BackwardInput(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, ConvGeom g, TiledGemmKernels.Tile t)
    {
        var as_ = SharedMemory.Allocate<float>(TiledGemmKernels.MaxBK * (TiledGemmKernels.MaxBM + 1));
        var bs = SharedMemory.Allocate<float>(TiledGemmKernels.MaxBK * (TiledGemmKernels.MaxBN + 1));
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX, nt = t.TX * t.TY;
        int bm = t.BM, bn = t.BN, lda = bm + 1, ldb = bn + 1;
        int row0 = Grid.IdxY * bm, col0 = Grid.IdxX * bn, img = Grid.IdxZ;
        int m = g.Cin, n = g.H * g.W, khw = g.KH * g.KW, kdim = g.Cout * khw;
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f, c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f, c40 = 0f, c41 = 0f, c42 = 0f, c43 = 0f, c50 = 0f, c51 = 0f, c52 = 0f, c53 = 0f, c60 = 0f, c61 = 0f, c62 = 0f, c63 = 0f, c70 = 0f, c71 = 0f, c72 = 0f, c73 = 0f;
        float av;
        for (int k0 = 0; k0 < kdim; k0 += t.BK)
        {
            for (int e = tid; e < bm * t.BK; e += nt)
            {
                int k = e % t.BK, i = e / t.BK, gi = row0 + i, gk = k0 + k;
                float v = 0f;
                if (gi < m && gk < kdim) { int o = gk / khw; v = w[(o * m + gi) * khw + gk - o * khw]; }
                as_[k * lda + i] = v;
            }
            for (int e = tid; e < bn * t.BK; e += nt)
            {
                int j = e % bn, k = e / bn, gj = col0 + j, gk = k0 + k;
                bs[k * ldb + j] = gj < n && gk < kdim ? TransposedColAt(dy, g, img, gk, gj, khw) : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < t.BK; kk++)
            {
                int ab = kk * lda + ty, bb = kk * ldb + tx;
                float b0 = bs[bb], b1 = bs[bb + t.TX], b2 = bs[bb + 2 * t.TX], b3 = bs[bb + 3 * t.TX];
                av = as_[ab]; c00 += av * b0; c01 += av * b1; c02 += av * b2; c03 += av * b3;
                av = as_[ab + 1 * t.TY]; c10 += av * b0; c11 += av * b1; c12 += av * b2; c13 += av * b3;
                av = as_[ab + 2 * t.TY]; c20 += av * b0; c21 += av * b1; c22 += av * b2; c23 += av * b3;
                av = as_[ab + 3 * t.TY]; c30 += av * b0; c31 += av * b1; c32 += av * b2; c33 += av * b3;
                av = as_[ab + 4 * t.TY]; c40 += av * b0; c41 += av * b1; c42 += av * b2; c43 += av * b3;
                av = as_[ab + 5 * t.TY]; c50 += av * b0; c51 += av * b1; c52 += av * b2; c53 += av * b3;
                av = as_[ab + 6 * t.TY]; c60 += av * b0; c61 += av * b1; c62 += av * b2; c63 += av * b3;
                av = as_[ab + 7 * t.TY]; c70 += av * b0; c71 += av * b1; c72 += av * b2; c73 += av * b3;
            }
            Group.Barrier();
        }
        int row = row0 + ty, col = col0 + tx, off = img * m * n;
        AddTile(dx, off, m, n, row + 0 * t.TY, col, t.TX, c00, c01, c02, c03);
        AddTile(dx, off, m, n, row + 1 * t.TY, col, t.TX, c10, c11, c12, c13);
        AddTile(dx, off, m, n, row + 2 * t.TY, col, t.TX, c20, c21, c22, c23);
        AddTile(dx, off, m, n, row + 3 * t.TY, col, t.TX, c30, c31, c32, c33);
        AddTile(dx, off, m, n, row + 4 * t.TY, col, t.TX, c40, c41, c42, c43);
        AddTile(dx, off, m, n, row + 5 * t.TY, col, t.TX, c50, c51, c52, c53);
        AddTile(dx, off, m, n, row + 6 * t.TY, col, t.TX, c60, c61, c62, c63);
        AddTile(dx, off, m, n, row + 7 * t.TY, col, t.TX, c70, c71, c72, c73);
    }

    /// <summary>dY_col[k, q] of image n: k = (o, u, v), q = (ih, iw) an input pixel; 0 where no output pixel maps tap (u, v) onto q.</summary>
    private static float TransposedColAt(ArrayView<float> dy, in ConvGeom g, int n, int k, int q, int khw)
    {
        int o = k / khw, r = k - o * khw, u = r / g.KW, v = r - u * g.KW;
        int ih = q / g.W, iw = q - ih * g.W;
        int th = ih + g.PadTop - u, tw = iw + g.PadLeft - v;
        if (th < 0 || tw < 0) return 0f;
        int oi = th / g.StrideH, oj = tw / g.StrideW;
        if (oi * g.StrideH != th || oj * g.StrideW != tw || oi >= g.Hout || oj >= g.Wout) return 0f;
        return dy[((n * g.Cout + o) * g.Hout + oi) * g.Wout + oj];
    }

    private static void AddTile(ArrayView<float> d, int offset, int m, int n, int i, int j, int dx, float v0, float v1, float v2, float v3)
    {
        if (i >= m) return;
        int r = offset + i * n;
        if (j < n) d[r + j] += v0;
        if (j + dx < n) d[r + j + dx] += v1;
        if (j + 2 * dx < n) d[r + j + 2 * dx] += v2;
        if (j + 3 * dx < n) d[r + j + 3 * dx] += v3;
    }

    /// <summary>dw[e] += Σ_z partial[z·mn + e], z in order. One thread per weight element.</summary>
    public static void SumSplits(Index1D e, ArrayView<float> partial, ArrayView<float> dw, int mn, int splits)
    {
        float acc = 0f;
        for (int z = 0; z < splits; z++) acc += partial[z * mn + e];
        dw[e] += acc;
    }

    private static int XMin(int a, int b) => a < b ? a : b;

    /// <summary>X_col[k, p] of image n: k = (c, u, v), p = (oi, oj); 0 in the padding.</summary>
    private static float Im2ColAt(ArrayView<float> x, in ConvGeom g, int n, int k, int p, int khw)
    {
        int c = k / khw, r = k - c * khw, u = r / g.KW, v = r - u * g.KW;
        int oi = p / g.Wout, oj = p - oi * g.Wout;
        int ih = oi * g.StrideH - g.PadTop + u, iw = oj * g.StrideW - g.PadLeft + v;
        return ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x[((n * g.Cin + c) * g.H + ih) * g.W + iw] : 0f;
    }

    private static void StoreY(ArrayView<float> y, in ConvGeom g, int img, int m, int n, int i, int j, int dx, float v0, float v1, float v2, float v3)
    {
        if (i >= m) return;
        int r = (img * m + i) * n;
        if (j < n) y[r + j] = v0;
        if (j + dx < n) y[r + j + dx] = v1;
        if (j + 2 * dx < n) y[r + j + 2 * dx] = v2;
        if (j + 3 * dx < n) y[r + j + 3 * dx] = v3;
    }

    private static void StorePartial(ArrayView<float> partial, int offset, int m, int n, int i, int j, int dx, float v0, float v1, float v2, float v3)
    {
        if (i >= m) return;
        int r = offset + i * n;
        if (j < n) partial[r + j] = v0;
        if (j + dx < n) partial[r + j + dx] = v1;
        if (j + 2 * dx < n) partial[r + j + 2 * dx] = v2;
        if (j + 3 * dx < n) partial[r + j + 3 * dx] = v3;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>? _convForwardTiled;

    /// <summary>Tiled conv forward; false (nothing launched) when the grid exceeds the device's limits.</summary>
    internal bool ConvForwardTiled(Tensor x, Tensor w, Tensor y, in ConvGeom g, TiledGemmKernels.Tile t)
    {
        var grid = new Index3D((g.Hout * g.Wout + t.BN - 1) / t.BN, (g.Cout + t.BM - 1) / t.BM, g.N);
        if (!FitsGrid(grid, t)) return false;
        if (g.OutputSize == 0) return true;
        _convForwardTiled ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>(TiledConvKernels.Forward);
        _convForwardTiled(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(x), F(w), F(y), g, t);
        return true;
    }

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>? _convBackwardInputTiled;

    /// <summary>Tiled conv input gradient (accumulates into dx); false (nothing launched) when the grid exceeds the device's limits.</summary>
    internal bool ConvBackwardInputTiled(Tensor dy, Tensor w, Tensor dx, in ConvGeom g, TiledGemmKernels.Tile t)
    {
        var grid = new Index3D((g.H * g.W + t.BN - 1) / t.BN, (g.Cin + t.BM - 1) / t.BM, g.N);
        if (!FitsGrid(grid, t)) return false;
        if (g.InputSize == 0) return true;
        _convBackwardInputTiled ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>(TiledConvKernels.BackwardInput);
        _convBackwardInputTiled(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(dy), F(w), F(dx), g, t);
        return true;
    }

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile, int>? _convBackwardWeightSplit;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? _sumSplits;
    private MemoryBuffer1D<float, Stride1D.Dense>? _splitPartials;

    /// <summary>
    /// Tiled conv weight gradient (accumulates into dw). Splits the reduction so that about 4 groups per multiprocessor
    /// run, each piece at least 32 K-slices long; false when the grid exceeds the device's limits.
    /// </summary>
    internal bool ConvBackwardWeightTiled(Tensor x, Tensor dy, Tensor dw, in ConvGeom g, TiledGemmKernels.Tile t, int splits = 0)
    {
        int m = g.Cout, ncol = g.Cin * g.KH * g.KW, red = g.N * g.Hout * g.Wout;
        int gx = (ncol + t.BN - 1) / t.BN, gy = (m + t.BM - 1) / t.BM;
        if (splits <= 0)
        {
            int want = (4 * Math.Max(1, Accelerator.NumMultiprocessors) + gx * gy - 1) / (gx * gy);
            splits = Math.Clamp(want, 1, Math.Max(1, red / (32 * t.BK)));
        }
        int splitLen = ((red + splits - 1) / splits + t.BK - 1) / t.BK * t.BK; // whole K-slices per piece
        splits = Math.Max(1, (red + splitLen - 1) / Math.Max(1, splitLen));
        var grid = new Index3D(gx, gy, splits);
        if (!FitsGrid(grid, t)) return false;
        if (g.WeightSize == 0 || red == 0) return true;
        long need = (long)splits * m * ncol;
        if (need > int.MaxValue) return false;
        if (_splitPartials is null || _splitPartials.Length < need)
        {
            // Kernels run in order on one stream, so the previous contents are no longer read by the time this is reused.
            _splitPartials?.Dispose();
            _splitPartials = Accelerator.Allocate1D<float>(need);
        }
        _convBackwardWeightSplit ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile, int>(TiledConvKernels.BackwardWeightSplit);
        _sumSplits ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(TiledConvKernels.SumSplits);
        _convBackwardWeightSplit(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(x), F(dy), _splitPartials.View, g, t, splitLen);
        _sumSplits(m * ncol, _splitPartials.View, F(dw), m * ncol, splits);
        return true;
    }
}
