using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// PixelSNAIL's masked (causal) convolution — conv2d with weight ∘ mask, the mask one [KH·KW] kernel mask shared by all
/// channel pairs — as implicit GEMMs on <see cref="TileCore"/> that skip the masked taps instead of multiplying by
/// their zeros. The reduction (forward, input gradient) and the weight gradient's columns run tap-major
/// (k = tap·C + channel), so a BK slice or a BN column block lies in one or two taps and is skipped, uniformly for the
/// whole group (the barriers stay balanced), when every tap it touches has mask 0: PixelSNAIL's k×k causal mask drops the k/2 taps right of the centre
/// on the last kernel row (1 of 9 for 3x3, 2 of 25 for 5x5). The mask is read on the device, so any mask works and nothing is read back to the host; an
/// unmasked tap uses w·mask exactly as the graph's F.Mul does. The dropped terms are ±0 products, so the results equal
/// the graph path's (conv on w ∘ mask, the CPU twin) up to summation order. No masked weight, im2col or dy_col buffer in
/// global memory. Tests: TiledMaskedConvParityTests; bench: bench/gpu_check.sh (conv stage, masked_conv).
/// </summary>
public static class TiledMaskedConvKernels
{
    /// <summary>
    /// Forward: Y[o, p] = Σ_k (w ∘ mask)[o, k]·X_col[k, p], k = tap·Cin + c; overwrites y, + bias[o] when hasBias is 1.
    /// Grid: (ceil(Hout·Wout/BN), ceil(Cout/BM), images).
    /// </summary>
    [GroupedKernel]
    public static void Forward(ArrayView<float> x, ArrayView<float> w, ArrayView<float> mask, ArrayView<float> bias, int hasBias, ArrayView<float> y, ConvGeom g, TiledGemmKernels.Tile t)
    {
        var @as = SharedMemory.Allocate<float>(TileCore.SharedA);
        var bs = SharedMemory.Allocate<float>(TileCore.SharedB);
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX;
        int row0 = Grid.IdxY * t.BM, col0 = Grid.IdxX * t.BN, img = Grid.IdxZ;
        int m = g.Cout, n = g.Hout * g.Wout;
        var acc = default(MicroTile);
        ActiveProduct(ref acc, @as, bs, new MaskedWeights(w, mask, g), true, new TapMajorIm2Col(x, g, img), false, row0, col0, g.Cin, mask, g.KH * g.KW, t);
        acc.Store(new Output(y, img * m * n, m, n, bias, hasBias), row0 + ty, col0 + tx, t.TX, t.TY);
    }

    /// <summary>
    /// Input gradient: dX[c, q] += Σ_k (w ∘ mask)ᵀ[c, k]·dY_col[k, q], k = tap·Cout + o (the transposed conv as a gather,
    /// as in <see cref="TiledConvKernels.BackwardInput"/>). Grid: (ceil(H·W/BN), ceil(Cin/BM), images).
    /// </summary>
    [GroupedKernel]
    public static void BackwardInput(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> mask, ArrayView<float> dx, ConvGeom g, TiledGemmKernels.Tile t)
    {
        var @as = SharedMemory.Allocate<float>(TileCore.SharedA);
        var bs = SharedMemory.Allocate<float>(TileCore.SharedB);
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX;
        int row0 = Grid.IdxY * t.BM, col0 = Grid.IdxX * t.BN, img = Grid.IdxZ;
        int m = g.Cin, n = g.H * g.W;
        var acc = default(MicroTile);
        ActiveProduct(ref acc, @as, bs, new MaskedWeightsT(w, mask, g), true, new TapMajorDyCol(dy, g, img), false, row0, col0, g.Cout, mask, g.KH * g.KW, t);
        acc.Store(new Accumulate(dx, img * m * n, m, n), row0 + ty, col0 + tx, t.TX, t.TY);
    }

    /// <summary>
    /// Weight gradient, split-K as <see cref="TiledConvKernels.BackwardWeightSplit"/>: columns j = tap·Cin + c, the
    /// reduction over (image, pixel) cut into Grid.Z pieces of splitLen. A group whose column block holds only masked
    /// taps skips its product; every group writes mask[tap]·Σ into partial[z·Cout·Cin·KH·KW ..] in w's [o, c, u, v]
    /// layout (0 at masked taps, as the graph's F.Mul backward gives), for <see cref="TiledConvKernels.SumSplits"/>.
    /// Grid: (ceil(Cin·KH·KW/BN), ceil(Cout/BM), splits).
    /// </summary>
    [GroupedKernel]
    public static void BackwardWeightSplit(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mask, ArrayView<float> partial, ConvGeom g, TiledGemmKernels.Tile t, int splitLen)
    {
        var @as = SharedMemory.Allocate<float>(TileCore.SharedA);
        var bs = SharedMemory.Allocate<float>(TileCore.SharedB);
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX;
        int row0 = Grid.IdxY * t.BM, col0 = Grid.IdxX * t.BN, split = Grid.IdxZ;
        int taps = g.KH * g.KW, ncol = g.Cin * taps, red = g.N * g.Hout * g.Wout;
        int kBegin = split * splitLen, kEnd = XMin(red, kBegin + splitLen);
        var acc = default(MicroTile);
        int lastCol = XMin(col0 + t.BN, ncol) - 1;
        if (lastCol >= col0 && AnyActive(mask, col0 / g.Cin, lastCol / g.Cin))
            TileCore.Product(ref acc, @as, bs, new TiledConvKernels.OutputGradByPixel(dy, g, kEnd), true, new TapMajorIm2ColByPixel(x, g, kEnd), false, row0, col0, kBegin, kEnd, t);
        acc.Store(new MaskedWeightGrad(partial, split * g.Cout * ncol, g, mask), row0 + ty, col0 + tx, t.TX, t.TY);
    }

    /// <summary>
    /// <see cref="TileCore.Product"/> over k ∈ [0, perTap·taps) with k = tap·perTap + channel, skipping every BK slice whose
    /// taps all have mask 0 (the same decision in every thread: the mask and the slice bounds are uniform).
    /// </summary>
    private static void ActiveProduct<TA, TB>(ref MicroTile acc, ArrayView<float> @as, ArrayView<float> bs, TA a, bool aKFastest, TB b, bool bKFastest,
        int row0, int col0, int perTap, ArrayView<float> mask, int taps, TiledGemmKernels.Tile t)
        where TA : struct, ITileSource where TB : struct, ITileSource
    {
        int tid = Group.IdxX, nt = t.TX * t.TY, tx = tid % t.TX, ty = tid / t.TX;
        int lda = t.BM + 1, ldb = t.BN + 1, kEnd = perTap * taps;
        for (int k0 = 0; k0 < kEnd; k0 += t.BK)
        {
            if (!AnyActive(mask, k0 / perTap, (XMin(k0 + t.BK, kEnd) - 1) / perTap)) continue;
            TileCore.Stage(@as, lda, a, t.BM, t.BK, aKFastest, row0, k0, tid, nt);
            TileCore.Stage(bs, ldb, b, t.BN, t.BK, bKFastest, col0, k0, tid, nt);
            Group.Barrier();
            acc.MultiplySlice(@as, bs, lda, ldb, tx, ty, t);
            Group.Barrier();
        }
    }

    /// <summary>Whether any tap in [first, last] has a nonzero mask.</summary>
    private static bool AnyActive(ArrayView<float> mask, int first, int last)
    {
        bool any = false;
        for (int tap = first; tap <= last; tap++) any |= mask[tap] != 0f;
        return any;
    }

    private static int XMin(int a, int b) => a < b ? a : b;

    /// <summary>(w ∘ mask)[o, (tap, c)] = w[o, c, tap]·mask[tap].</summary>
    private readonly struct MaskedWeights(ArrayView<float> w, ArrayView<float> mask, ConvGeom g) : ITileSource
    {
        public float At(int o, int k)
        {
            int taps = g.KH * g.KW, tap = k / g.Cin, c = k - tap * g.Cin;
            return o < g.Cout && tap < taps ? w[(o * g.Cin + c) * taps + tap] * mask[tap] : 0f;
        }
    }

    /// <summary>(w ∘ mask)ᵀ[c, (tap, o)] = w[o, c, tap]·mask[tap].</summary>
    private readonly struct MaskedWeightsT(ArrayView<float> w, ArrayView<float> mask, ConvGeom g) : ITileSource
    {
        public float At(int c, int k)
        {
            int taps = g.KH * g.KW, tap = k / g.Cout, o = k - tap * g.Cout;
            return c < g.Cin && tap < taps ? w[(o * g.Cin + c) * taps + tap] * mask[tap] : 0f;
        }
    }

    /// <summary>X_col[(tap, c), p] of image n (as B: column p); 0 in the padding.</summary>
    private readonly struct TapMajorIm2Col(ArrayView<float> x, ConvGeom g, int n) : ITileSource
    {
        public float At(int p, int k) => p < g.Hout * g.Wout && k < g.Cin * g.KH * g.KW ? Im2ColAt(x, g, n, k, p) : 0f;
    }

    /// <summary>X_col of the weight gradient: column j = (tap, c), reduction index r = (n, p) below kEnd.</summary>
    private readonly struct TapMajorIm2ColByPixel(ArrayView<float> x, ConvGeom g, int kEnd) : ITileSource
    {
        public float At(int j, int r)
        {
            if (j >= g.Cin * g.KH * g.KW || r >= kEnd) return 0f;
            int p = g.Hout * g.Wout, n = r / p;
            return Im2ColAt(x, g, n, j, r - n * p);
        }
    }

    /// <summary>dY_col[(tap, o), q] of image n: q = (ih, iw) an input pixel; 0 where no output pixel maps the tap onto q.</summary>
    private readonly struct TapMajorDyCol(ArrayView<float> dy, ConvGeom g, int n) : ITileSource
    {
        public float At(int q, int k)
        {
            if (q >= g.H * g.W || k >= g.Cout * g.KH * g.KW) return 0f;
            int tap = k / g.Cout, o = k - tap * g.Cout, u = tap / g.KW, v = tap - u * g.KW;
            int ih = q / g.W, iw = q - ih * g.W;
            int th = ih + g.PadTop - u, tw = iw + g.PadLeft - v;
            if (th < 0 || tw < 0) return 0f;
            int oi = th / g.StrideH, oj = tw / g.StrideW;
            if (oi * g.StrideH != th || oj * g.StrideW != tw || oi >= g.Hout || oj >= g.Wout) return 0f;
            return dy[((n * g.Cout + o) * g.Hout + oi) * g.Wout + oj];
        }
    }

    /// <summary>X_col[(tap, c), p] of image n: p = (oi, oj); 0 in the padding.</summary>
    private static float Im2ColAt(ArrayView<float> x, in ConvGeom g, int n, int k, int p)
    {
        int tap = k / g.Cin, c = k - tap * g.Cin, u = tap / g.KW, v = tap - u * g.KW;
        int oi = p / g.Wout, oj = p - oi * g.Wout;
        int ih = oi * g.StrideH - g.PadTop + u, iw = oj * g.StrideW - g.PadLeft + v;
        return ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x[((n * g.Cin + c) * g.H + ih) * g.W + iw] : 0f;
    }

    /// <summary>y[offset + o·n + p] = v (+ bias[o] when hasBias).</summary>
    private readonly struct Output(ArrayView<float> y, int offset, int m, int n, ArrayView<float> bias, int hasBias) : ITileSink
    {
        public void Put(int i, int j, float v)
        {
            if (i < m && j < n) y[offset + i * n + j] = hasBias != 0 ? v + bias[i] : v;
        }
    }

    /// <summary>out[offset + i·n + j] += v.</summary>
    private readonly struct Accumulate(ArrayView<float> d, int offset, int m, int n) : ITileSink
    {
        public void Put(int i, int j, float v) { if (i < m && j < n) d[offset + i * n + j] += v; }
    }

    /// <summary>partial[offset + (o, c, tap)] = v·mask[tap] for column j = (tap, c): back in w's layout.</summary>
    private readonly struct MaskedWeightGrad(ArrayView<float> partial, int offset, ConvGeom g, ArrayView<float> mask) : ITileSink
    {
        public void Put(int o, int j, float v)
        {
            int taps = g.KH * g.KW;
            if (o >= g.Cout || j >= g.Cin * taps) return;
            int tap = j / g.Cin, c = j - tap * g.Cin;
            partial[offset + (o * g.Cin + c) * taps + tap] = v * mask[tap];
        }
    }
}

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>? _maskedConvForward;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>? _maskedConvBackwardInput;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile, int>? _maskedConvBackwardWeight;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? _maskedSumSplits;
    private MemoryBuffer1D<float, Stride1D.Dense>? _maskedSplitPartials;

    /// <summary>The tile the masked kernels run with: the GEMM's, or one a test sets for the simulator.</summary>
    internal TiledGemmKernels.Tile? MaskedConvTile { get; set; }

    private TiledGemmKernels.Tile MaskedTile => MaskedConvTile ?? GemmTile;

    /// <summary>On cuda (or with the tiled kernels switched on) the masked convs run the kernels above when their grids fit.</summary>
    public override bool HasMaskedConvKernels(in ConvGeom g)
    {
        if (!UseTiledGemm) return false;
        var t = MaskedTile;
        var (split, _, _) = MaskedWeightSplits(g, t);
        return FitsGrid(new Index3D((g.Hout * g.Wout + t.BN - 1) / t.BN, (g.Cout + t.BM - 1) / t.BM, g.N), t)
            && FitsGrid(new Index3D((g.H * g.W + t.BN - 1) / t.BN, (g.Cin + t.BM - 1) / t.BM, g.N), t)
            && FitsGrid(split, t) && (long)split.Z * g.WeightSize <= int.MaxValue;
    }

    protected override void MaskedConv2dForwardCore(Tensor x, Tensor w, Tensor mask, Tensor? bias, Tensor y, in ConvGeom g)
    {
        if (g.OutputSize == 0) return;
        var t = MaskedTile;
        var grid = new Index3D((g.Hout * g.Wout + t.BN - 1) / t.BN, (g.Cout + t.BM - 1) / t.BM, g.N);
        _maskedConvForward ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>(TiledMaskedConvKernels.Forward);
        _maskedConvForward(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(x), F(w), F(mask), bias is null ? F(y) : F(bias), bias is null ? 0 : 1, F(y), g, t);
    }

    protected override void MaskedConv2dBackwardInputCore(Tensor dy, Tensor w, Tensor mask, Tensor dx, in ConvGeom g)
    {
        if (g.InputSize == 0) return;
        var t = MaskedTile;
        var grid = new Index3D((g.H * g.W + t.BN - 1) / t.BN, (g.Cin + t.BM - 1) / t.BM, g.N);
        _maskedConvBackwardInput ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>(TiledMaskedConvKernels.BackwardInput);
        _maskedConvBackwardInput(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(dy), F(w), F(mask), F(dx), g, t);
    }

    protected override void MaskedConv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor mask, Tensor dw, in ConvGeom g)
    {
        int red = g.N * g.Hout * g.Wout;
        if (g.WeightSize == 0 || red == 0) return;
        var t = MaskedTile;
        var (grid, splitLen, splits) = MaskedWeightSplits(g, t);
        long need = (long)splits * g.WeightSize;
        if (_maskedSplitPartials is null || _maskedSplitPartials.Length < need)
        {
            // Kernels run in order on one stream: the previous contents are no longer read by the time this is reused.
            _maskedSplitPartials?.Dispose();
            _maskedSplitPartials = Accelerator.Allocate1D<float>(need);
        }
        _maskedConvBackwardWeight ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile, int>(TiledMaskedConvKernels.BackwardWeightSplit);
        _maskedSumSplits ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(TiledConvKernels.SumSplits);
        _maskedConvBackwardWeight(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(x), F(dy), F(mask), _maskedSplitPartials.View, g, t, splitLen);
        _maskedSumSplits(g.WeightSize, _maskedSplitPartials.View, F(dw), g.WeightSize, splits);
    }

    /// <summary>The weight gradient's split of its reduction: about 4 groups per multiprocessor, each piece ≥ 32 K-slices (as the unmasked one).</summary>
    private (Index3D Grid, int SplitLen, int Splits) MaskedWeightSplits(in ConvGeom g, TiledGemmKernels.Tile t)
    {
        int ncol = g.Cin * g.KH * g.KW, red = g.N * g.Hout * g.Wout;
        int gx = (ncol + t.BN - 1) / t.BN, gy = (g.Cout + t.BM - 1) / t.BM;
        int want = (4 * Math.Max(1, Accelerator.NumMultiprocessors) + gx * gy - 1) / (gx * gy);
        int splits = Math.Clamp(want, 1, Math.Max(1, red / (32 * t.BK)));
        int splitLen = Math.Max(t.BK, ((red + splits - 1) / splits + t.BK - 1) / t.BK * t.BK);
        splits = Math.Max(1, (red + splitLen - 1) / splitLen);
        return (new Index3D(gx, gy, splits), splitLen, splits);
    }
}
