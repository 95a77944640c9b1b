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
    /// X_col tile is gathered from x straight into shared memory (zero outside the image). Overwrites y, adding bias[o]
    /// in the store when hasBias is 1 (bias is not read otherwise), then the activation <paramref name="act"/>
    /// (<see cref="ConvKernels.Activate"/>: 0 none, 1 ReLU, 2 LeakyReLU(slope), 3 ELU). Grid: (ceil(N/BN), ceil(Cout/BM), images).
    /// </summary>
    [GroupedKernel]
    public static void Forward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, int hasBias, int act, float slope, ArrayView<float> y, ConvGeom g, TiledGemmKernels.Tile t)
    {
        var @as = SharedMemory.Allocate<float>(TileCore.SharedA);
        var bs = SharedMemory.Allocate<float>(TileCore.SharedB);
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX;
        int row0 = Grid.IdxY * t.BM, col0 = Grid.IdxX * t.BN, img = Grid.IdxZ;
        int m = g.Cout, n = g.Hout * g.Wout, kdim = g.Cin * g.KH * g.KW;
        var acc = default(MicroTile);
        TileCore.Product(ref acc, @as, bs, new Weights(w, m, kdim), true, new Im2Col(x, g, img), false, row0, col0, 0, kdim, t);
        acc.Store(new BiasedOutput(y, img * m * n, m, n, bias, hasBias, act, slope), row0 + ty, col0 + tx, t.TX, t.TY);
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
        var @as = SharedMemory.Allocate<float>(TileCore.SharedA);
        var bs = SharedMemory.Allocate<float>(TileCore.SharedB);
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX;
        int row0 = Grid.IdxY * t.BM, col0 = Grid.IdxX * t.BN, split = Grid.IdxZ;
        int m = g.Cout, ncol = g.Cin * g.KH * g.KW, red = g.N * g.Hout * g.Wout;
        int kBegin = split * splitLen, kEnd = XMin(red, kBegin + splitLen);
        var acc = default(MicroTile);
        TileCore.Product(ref acc, @as, bs, new OutputGradByPixel(dy, g, kEnd), true, new Im2ColByPixel(x, g, kEnd), false, row0, col0, kBegin, kEnd, t);
        acc.Store(new Overwrite(partial, split * m * ncol, m, ncol), row0 + ty, col0 + tx, t.TX, t.TY);
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
        var @as = SharedMemory.Allocate<float>(TileCore.SharedA);
        var bs = SharedMemory.Allocate<float>(TileCore.SharedB);
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX;
        int row0 = Grid.IdxY * t.BM, col0 = Grid.IdxX * t.BN, img = Grid.IdxZ;
        int m = g.Cin, n = g.H * g.W, kdim = g.Cout * g.KH * g.KW;
        var acc = default(MicroTile);
        TileCore.Product(ref acc, @as, bs, new TransposedWeights(w, g), true, new TransposedCol(dy, g, img), false, row0, col0, 0, kdim, t);
        acc.Store(new Accumulate(dx, img * m * n, m, n), row0 + ty, col0 + tx, t.TX, t.TY);
    }

    /// <summary>dw[e] += Σ_z partial[z·mn + e], z in order. One thread per weight element.</summary>
    public static void SumSplits(Index1D e, ArrayView<float> partial, ArrayView<float> dw, int mn, int splits)
    {
        float acc = 0f;
        for (int z = 0; z < splits; z++) acc += partial[z * mn + e];
        dw[e] += acc;
    }

    private static int XMin(int a, int b) => a < b ? a : b;

    /// <summary>W[o, k] of the [Cout, Cin·KH·KW] weight matrix.</summary>
    private readonly struct Weights(ArrayView<float> w, int m, int kdim) : ITileSource
    {
        public float At(int o, int k) => o < m && k < kdim ? w[o * kdim + k] : 0f;
    }

    /// <summary>Wᵀ[c, (o, u, v)] = w[o, c, u, v].</summary>
    private readonly struct TransposedWeights(ArrayView<float> w, ConvGeom g) : ITileSource
    {
        public float At(int c, int k)
        {
            int khw = g.KH * g.KW, o = k / khw;
            return c < g.Cin && k < g.Cout * khw ? w[(o * g.Cin + c) * khw + k - o * khw] : 0f;
        }
    }

    /// <summary>X_col[k, p] of image n (as B: column p, row k): k = (c, u, v), p = (oi, oj); 0 in the padding.</summary>
    private readonly struct Im2Col(ArrayView<float> x, ConvGeom g, int n) : ITileSource
    {
        public float At(int p, int k) => p < g.Hout * g.Wout && k < g.Cin * g.KH * g.KW ? Im2ColAt(x, g, n, k, p) : 0f;
    }

    /// <summary>X_col of the weight gradient: column k = (c, u, v), reduction index r = (n, p) below kEnd.</summary>
    private readonly struct Im2ColByPixel(ArrayView<float> x, ConvGeom g, int kEnd) : ITileSource
    {
        public float At(int k, int r)
        {
            if (k >= g.Cin * g.KH * g.KW || r >= kEnd) return 0f;
            int p = g.Hout * g.Wout, n = r / p;
            return Im2ColAt(x, g, n, k, r - n * p);
        }
    }

    /// <summary>dY[o, r] with r = (n, p) below kEnd: the weight gradient's A (also the masked conv's).</summary>
    internal readonly struct OutputGradByPixel(ArrayView<float> dy, ConvGeom g, int kEnd) : ITileSource
    {
        public float At(int o, int r)
        {
            if (o >= g.Cout || r >= kEnd) return 0f;
            int p = g.Hout * g.Wout, n = r / p;
            return dy[(n * g.Cout + o) * p + r - n * p];
        }
    }

    /// <summary>dY_col[k, q] of image n: k = (o, u, v), q = (ih, iw) an input pixel; 0 where no output pixel maps tap (u, v) onto q.</summary>
    private readonly struct TransposedCol(ArrayView<float> dy, ConvGeom g, int n) : ITileSource
    {
        public float At(int q, int k)
        {
            int khw = g.KH * g.KW;
            if (q >= g.H * g.W || k >= g.Cout * khw) return 0f;
            int o = k / khw, r = k - o * khw, u = r / g.KW, v = r - u * g.KW;
            int ih = q / g.W, iw = q - ih * g.W;
            int th = ih + g.PadTop - u, tw = iw + g.PadLeft - v;
            if (th < 0 || tw < 0) return 0f;
            int oi = th / g.StrideH, oj = tw / g.StrideW;
            if (oi * g.StrideH != th || oj * g.StrideW != tw || oi >= g.Hout || oj >= g.Wout) return 0f;
            return dy[((n * g.Cout + o) * g.Hout + oi) * g.Wout + oj];
        }
    }

    /// <summary>X_col[k, p] of image n: k = (c, u, v), p = (oi, oj); 0 in the padding.</summary>
    private static float Im2ColAt(ArrayView<float> x, in ConvGeom g, int n, int k, int p)
    {
        int khw = g.KH * g.KW, c = k / khw, r = k - c * khw, u = r / g.KW, v = r - u * g.KW;
        int oi = p / g.Wout, oj = p - oi * g.Wout;
        int ih = oi * g.StrideH - g.PadTop + u, iw = oj * g.StrideW - g.PadLeft + v;
        return ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x[((n * g.Cin + c) * g.H + ih) * g.W + iw] : 0f;
    }

    /// <summary>out[offset + i·n + j] = v (an [m, n] matrix).</summary>
    private readonly struct Overwrite(ArrayView<float> d, int offset, int m, int n) : ITileSink
    {
        public void Put(int i, int j, float v) { if (i < m && j < n) d[offset + i * n + j] = v; }
    }

    /// <summary>y[offset + o·n + p] = act(v (+ bias[o] when hasBias)): the forward's epilogue.</summary>
    private readonly struct BiasedOutput(ArrayView<float> y, int offset, int m, int n, ArrayView<float> bias, int hasBias, int act, float slope) : ITileSink
    {
        public void Put(int i, int j, float v)
        {
            if (i < m && j < n) y[offset + i * n + j] = ConvKernels.Activate(hasBias != 0 ? v + bias[i] : v, act, slope);
        }
    }

    /// <summary>out[offset + i·n + j] += v (gradients accumulate).</summary>
    private readonly struct Accumulate(ArrayView<float> d, int offset, int m, int n) : ITileSink
    {
        public void Put(int i, int j, float v) { if (i < m && j < n) d[offset + i * n + j] += v; }
    }
}

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>? _convForwardTiled;

    /// <summary>
    /// Tiled conv forward, with the bias and activation in its epilogue when given; false (nothing launched) when the
    /// grid exceeds the device's limits.
    /// </summary>
    internal bool ConvForwardTiled(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeom g, TiledGemmKernels.Tile t, ConvEpilogue epilogue = default)
    {
        var grid = new Index3D((g.Hout * g.Wout + t.BN - 1) / t.BN, (g.Cout + t.BM - 1) / t.BM, g.N);
        if (!FitsGrid(grid, t)) return false;
        if (g.OutputSize == 0) return true;
        _convForwardTiled ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>(TiledConvKernels.Forward);
        // Without a bias the kernel never reads that argument; y's view stands in for it.
        _convForwardTiled(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(x), F(w), bias is null ? F(y) : F(bias), bias is null ? 0 : 1,
            epilogue.Code, epilogue.Slope, F(y), g, t);
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
