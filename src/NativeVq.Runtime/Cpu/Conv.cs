using System.Buffers;

namespace NativeVq.Cpu;

/// <summary>
/// CPU convolution (twin of kernels/NativeVq.Kernels/ConvKernels.cs): im2col + <see cref="CpuGemm.Sgemm"/>.
/// Per image n: forward <c>y_n [Cout, HWo] = W [Cout, CKK] · col(x_n) [CKK, HWo]</c>; backward-input
/// <c>col = Wᵀ · dy_n</c> then col2im scatters it back (+=) onto dx_n; backward-weight
/// <c>dW += dy_n · col(x_n)ᵀ</c>. A 1x1/stride-1/no-pad conv skips im2col (x_n already is the column matrix).
/// Why im2col: it turns every conv into one large GEMM per image, so all the speed work lives in CpuGemm.
/// Images run in parallel (fixed chunks over the batch); each worker thread keeps its own column buffer
/// (<see cref="ThreadStaticAttribute"/>), so steady-state calls allocate nothing large. Deterministic:
/// forward and backward-input write disjoint images; backward-weight sums per-chunk partial dW buffers in
/// chunk order (the chunking depends only on N and the core count).
/// Arrays (not spans) are taken because the parallel bodies are lambdas; offsets are explicit.
/// </summary>
public static class CpuConv
{
    /// <summary>
    /// Target GEMM width (columns = images·Hout·Wout) of one image chunk. Small feature maps (8x8 latents:
    /// 64 columns per image) make per-image GEMMs inefficient — the weight is re-packed for every image and the
    /// microkernel runs on 2 column panels — so a chunk of images shares one GEMM over a [CKK, nb·HWo] column matrix.
    /// </summary>
    private const int TargetCols = 256;

    [ThreadStatic] private static float[]? _col, _tmp, _dyc;

    /// <summary>A per-thread buffer, grown on demand (never shrunk): steady-state calls allocate nothing.</summary>
    private static float[] Buf(ref float[]? buf, int length)
    {
        var c = buf;
        if (c is null || c.Length < length) buf = c = GC.AllocateUninitializedArray<float>(Math.Max(length, 1024));
        return c;
    }

    /// <summary>
    /// Images per chunk: enough to reach <see cref="TargetCols"/> columns, but at least 2·threads chunks when the
    /// batch allows (load balance on a shared machine). Depends only on N, HWo and the core count (determinism).
    /// </summary>
    internal static int ChunkImages(int n, int hwo)
    {
        int nb = Math.Max(1, TargetCols / Math.Max(1, hwo));
        int minChunks = Math.Min(n, 2 * CpuParallel.Threads);
        return Math.Max(1, Math.Min(nb, (n + minChunks - 1) / minChunks));
    }

    /// <summary>Runs body(n0, n1, chunk, outerParallel) for each fixed image chunk, chunks in parallel when there are several.</summary>
    private static void ForChunks(int n, int nb, Action<int, int, int, bool> body)
    {
        int chunks = (n + nb - 1) / nb;
        if (chunks == 1) { body(0, n, 0, false); return; }
        CpuParallel.For(chunks, 1, (s, e) =>
        {
            for (int c = s; c < e; c++) body(c * nb, Math.Min(n, (c + 1) * nb), c, true);
        });
    }

    /// <summary>dst[r, img·len + p] = src[off + img·stride + r·len + p]: NCHW rows of a chunk side by side.</summary>
    private static void Gather(float[] src, int off, int stride, int rows, int len, int nb, float[] dst)
    {
        int cols = nb * len;
        for (int img = 0; img < nb; img++)
            for (int r = 0; r < rows; r++)
                src.AsSpan(off + img * stride + r * len, len).CopyTo(dst.AsSpan(r * cols + img * len, len));
    }

    /// <summary>The inverse of <see cref="Gather"/>: overwrite (add = false) or accumulate into the NCHW tensor.</summary>
    private static void Scatter(float[] src, int rows, int len, int nb, float[] dst, int off, int stride, bool add)
    {
        int cols = nb * len;
        for (int img = 0; img < nb; img++)
            for (int r = 0; r < rows; r++)
            {
                var s = src.AsSpan(r * cols + img * len, len);
                var d = dst.AsSpan(off + img * stride + r * len, len);
                if (add) System.Numerics.Tensors.TensorPrimitives.Add(d, s, d);
                else s.CopyTo(d);
            }
    }

    /// <summary>The chunk's column matrix [CKK, nb·HWo] (im2col of each image, or the gathered input for a 1x1 conv).</summary>
    private static void Columns(float[] x, int n0, int nb, float[] col, in ConvGeom g)
    {
        int hwo = g.Hout * g.Wout, xs = g.Cin * g.H * g.W;
        if (g.IsPointwise) Gather(x, n0 * xs, xs, g.Cin, hwo, nb, col);
        else for (int img = 0; img < nb; img++) Im2Col(x, (n0 + img) * xs, col, img * hwo, nb * hwo, g);
    }

    /// <summary>
    /// y = act(conv(x, w) + bias[o]), overwriting y. The epilogue (<see cref="CpuConvEpilogue"/>) runs on each block
    /// of y right after the GEMM wrote it, while it is still in cache, instead of two more passes over y.
    /// </summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeom g, float[]? bias = null, ConvEpilogue ep = default)
    {
        if (CpuConvPlanes.Supports(g)) CpuConvPlanes.Forward(x, w, y, g, bias, ep);
        else if (CpuConvGemm.SupportsForward(g)) CpuConvGemm.Forward(x, w, y, g, bias: bias, epilogue: ep);
        else ForwardIm2Col(x, w, y, g, bias, ep);
    }

    /// <summary>The im2col + GEMM forward: any geometry (and the reference the implicit GEMM is tested against).</summary>
    internal static void ForwardIm2Col(float[] x, float[] w, float[] y, ConvGeom g, float[]? bias = null, ConvEpilogue ep = default)
    {
        bool epilogue = CpuConvEpilogue.Active(bias, ep);
        int hwo = g.Hout * g.Wout, ckk = g.Ckk, xs = g.Cin * g.H * g.W, ys = g.Cout * hwo;
        int nbMax = ChunkImages(g.N, hwo);
        ForChunks(g.N, nbMax, (n0, n1, _, outer) =>
        {
            int nb = n1 - n0, cols = nb * hwo;
            var spec = new GemmSpec(false, false, g.Cout, cols, ckk);
            ReadOnlySpan<float> b;
            if (nb == 1 && g.IsPointwise) b = x.AsSpan(n0 * xs, xs);
            else
            {
                var col = Buf(ref _col, ckk * cols);
                Columns(x, n0, nb, col, g);
                b = col.AsSpan(0, ckk * cols);
            }
            if (nb == 1) CpuGemm.Sgemm(spec, w.AsSpan(0, g.WeightSize), b, y.AsSpan(n0 * ys, ys), parallel: !outer);
            else
            {
                var tmp = Buf(ref _tmp, g.Cout * cols);
                CpuGemm.Sgemm(spec, w.AsSpan(0, g.WeightSize), b, tmp.AsSpan(0, g.Cout * cols), parallel: !outer);
                Scatter(tmp, g.Cout, hwo, nb, y, n0 * ys, ys, add: false);
            }
            if (epilogue)
                for (int img = n0; img < n1; img++) CpuConvEpilogue.ApplyImage(y, img, g.Cout, hwo, 0, hwo, bias, ep);
        });
    }

    /// <summary>dx += convᵀ(dy, w).</summary>
    public static void BackwardInput(float[] dy, float[] w, float[] dx, ConvGeom g)
    {
        if (!CpuConvBackwardInputGemm.TryRun(dy, w, dx, g)) BackwardInputIm2Col(dy, w, dx, g);
    }

    /// <summary>The col = Wᵀ·dy, col2im form: any geometry (and the reference the phase form is tested against).</summary>
    internal static void BackwardInputIm2Col(float[] dy, float[] w, float[] dx, ConvGeom g)
    {
        int hwo = g.Hout * g.Wout, ckk = g.Ckk, xs = g.Cin * g.H * g.W, ys = g.Cout * hwo;
        int nbMax = ChunkImages(g.N, hwo);
        ForChunks(g.N, nbMax, (n0, n1, _, outer) =>
        {
            int nb = n1 - n0, cols = nb * hwo;
            ReadOnlySpan<float> d;
            if (nb == 1) d = dy.AsSpan(n0 * ys, ys);
            else
            {
                var dyc = Buf(ref _dyc, g.Cout * cols);
                Gather(dy, n0 * ys, ys, g.Cout, hwo, nb, dyc);
                d = dyc.AsSpan(0, g.Cout * cols);
            }
            if (g.IsPointwise && nb == 1)
            {
                // dx_n [Cin, HW] += Wᵀ · dy_n, straight into dx (beta 1).
                CpuGemm.Sgemm(new GemmSpec(true, false, ckk, hwo, g.Cout, Beta: 1f), w.AsSpan(0, g.WeightSize), d, dx.AsSpan(n0 * xs, xs), parallel: !outer);
                return;
            }
            var col = Buf(ref _col, ckk * cols);
            CpuGemm.Sgemm(new GemmSpec(true, false, ckk, cols, g.Cout), w.AsSpan(0, g.WeightSize), d, col.AsSpan(0, ckk * cols), parallel: !outer);
            if (g.IsPointwise) Scatter(col, g.Cin, hwo, nb, dx, n0 * xs, xs, add: true);
            else for (int img = 0; img < nb; img++) Col2ImAdd(col, img * hwo, cols, dx, (n0 + img) * xs, g);
        });
    }

    /// <summary>
    /// dw += Σ_n dy_n · col(x_n)ᵀ: strided convs by the transposed implicit GEMM of ConvBackwardWeightGemm.cs, stride-1
    /// convs by the tap-panel one of ConvBackwardWeightTapsGemm.cs (each faster at its shapes), im2col otherwise.
    /// </summary>
    public static void BackwardWeight(float[] x, float[] dy, float[] dw, ConvGeom g)
    {
        bool stride1 = g.StrideH == 1 && g.StrideW == 1;
        if (stride1 && CpuConvBackwardWeightTapsGemm.Supports(g)) CpuConvBackwardWeightTapsGemm.Run(x, dy, dw, g);
        else if (!stride1 && CpuConvBackwardWeightGemm.Supports(g)) CpuConvBackwardWeightGemm.Run(x, dy, dw, g);
        else BackwardWeightIm2Col(x, dy, dw, g);
    }

    /// <summary>
    /// The im2col form, any geometry. The batch is cut into <see cref="CpuParallel.ChunkCount"/> fixed parts, each
    /// summing its images into a partial dW with one GEMM per group of images (K = group·HWo); partials are
    /// added to dw in part order. Few parts keep the partial buffers (and their final sum) small.
    /// </summary>
    internal static void BackwardWeightIm2Col(float[] x, float[] dy, float[] dw, ConvGeom g)
    {
        int hwo = g.Hout * g.Wout, ckk = g.Ckk, ys = g.Cout * hwo, wsz = g.WeightSize;
        int nb = ChunkImages(g.N, hwo);
        int parts = CpuParallel.ChunkCount(g.N, nb);
        if (parts == 1)
        {
            Part(0, g.N, dw, 0, 1f, false);
            return;
        }
        var partial = ArrayPool<float>.Shared.Rent(parts * wsz);
        try
        {
            CpuParallel.ForChunks(g.N, nb, (c, s, e) => Part(s, e, partial, c * wsz, 0f, true));
            var acc = dw.AsSpan(0, wsz);
            for (int c = 0; c < parts; c++)
                System.Numerics.Tensors.TensorPrimitives.Add(acc, partial.AsSpan(c * wsz, wsz), acc);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
        }

        void Part(int s, int e, float[] target, int offset, float beta, bool outer)
        {
            for (int n0 = s; n0 < e; n0 += nb, beta = 1f) Chunk(n0, Math.Min(e, n0 + nb), target, offset, beta, outer);
        }

        void Chunk(int n0, int n1, float[] target, int offset, float beta, bool outer)
        {
            int nb = n1 - n0, cols = nb * hwo;
            ReadOnlySpan<float> a, b;
            if (nb == 1) a = dy.AsSpan(n0 * ys, ys);
            else
            {
                var dyc = Buf(ref _dyc, g.Cout * cols);
                Gather(dy, n0 * ys, ys, g.Cout, hwo, nb, dyc);
                a = dyc.AsSpan(0, g.Cout * cols);
            }
            if (nb == 1 && g.IsPointwise) b = x.AsSpan(n0 * g.Cin * hwo, g.Cin * hwo);
            else
            {
                var col = Buf(ref _col, ckk * cols);
                Columns(x, n0, nb, col, g);
                b = col.AsSpan(0, ckk * cols);
            }
            CpuGemm.Sgemm(new GemmSpec(false, true, g.Cout, ckk, cols, Beta: beta), a, b, target.AsSpan(offset, wsz), parallel: !outer);
        }
    }

    /// <summary>First output column j whose tap v reads a real input column: j·s − pad + v ≥ 0.</summary>
    internal static int FirstValid(int pad, int v, int s)
    {
        int a = pad - v;
        return a <= 0 ? 0 : (a + s - 1) / s;
    }

    /// <summary>One past the last output column whose tap reads inside: j·s − pad + v ≤ size − 1.</summary>
    internal static int EndValid(int size, int pad, int v, int s, int outSize)
    {
        int b = size - 1 + pad - v;
        return b < 0 ? 0 : Math.Min(outSize, b / s + 1);
    }

    /// <summary>
    /// Stride 1 with Wout = W (the "same"-width convs of the 8x8 latent models): a tap's column row is the input
    /// plane shifted by (u − padTop)·W + (v − padLeft) elements, so the valid rows copy as ONE contiguous run
    /// (instead of one tiny copy per output row) and only the ≤ pad wrapped columns per row are fixed up.
    /// </summary>
    private static bool IsShiftable(in ConvGeom g) => g.StrideH == 1 && g.StrideW == 1 && g.Wout == g.W;

    /// <summary>Output rows [lo, hi) whose tap row u reads a real input row.</summary>
    private static (int Lo, int Hi) ValidRows(in ConvGeom g, int u)
        => (Math.Max(0, g.PadTop - u), Math.Min(g.Hout, g.H + g.PadTop - u));

    private static void Im2ColShift(float[] x, int xo, float[] col, int co, int ld, in ConvGeom g)
    {
        int hw = g.H * g.W, w = g.W, hwo = g.Hout * w;
        for (int c = 0; c < g.Cin; c++)
            for (int u = 0; u < g.KH; u++)
            {
                var (lo, hi) = ValidRows(g, u);
                for (int v = 0; v < g.KW; v++)
                {
                    var dst = col.AsSpan(((c * g.KH + u) * g.KW + v) * ld + co, hwo);
                    int jlo = FirstValid(g.PadLeft, v, 1), jhi = EndValid(g.W, g.PadLeft, v, 1, w);
                    if (lo >= hi || jlo >= jhi) { dst.Clear(); continue; }
                    int t0 = lo * w + jlo, t1 = (hi - 1) * w + jhi, shift = (u - g.PadTop) * w + v - g.PadLeft;
                    dst[..(lo * w)].Clear();
                    dst[(hi * w)..].Clear();
                    x.AsSpan(xo + c * hw + t0 + shift, t1 - t0).CopyTo(dst[t0..t1]);
                    for (int oi = lo; oi < hi; oi++)
                    {
                        int r = oi * w;
                        for (int j = 0; j < jlo; j++) dst[r + j] = 0f;
                        for (int j = jhi; j < w; j++) dst[r + j] = 0f;
                    }
                }
            }
    }

    /// <summary>
    /// Adjoint of <see cref="Im2ColShift"/>: zeroes the column entries that read padding (col is scratch), then
    /// adds the valid rows as one contiguous run; the zeroed entries land on real elements and add exactly 0.
    /// </summary>
    private static void Col2ImAddShift(float[] col, int co, int ld, float[] dx, int xo, in ConvGeom g)
    {
        int hw = g.H * g.W, w = g.W, hwo = g.Hout * w;
        for (int c = 0; c < g.Cin; c++)
            for (int u = 0; u < g.KH; u++)
            {
                var (lo, hi) = ValidRows(g, u);
                if (lo >= hi) continue;
                for (int v = 0; v < g.KW; v++)
                {
                    var src = col.AsSpan(((c * g.KH + u) * g.KW + v) * ld + co, hwo);
                    int jlo = FirstValid(g.PadLeft, v, 1), jhi = EndValid(g.W, g.PadLeft, v, 1, w);
                    if (jlo >= jhi) continue;
                    for (int oi = lo; oi < hi; oi++)
                    {
                        int r = oi * w;
                        for (int j = 0; j < jlo; j++) src[r + j] = 0f;
                        for (int j = jhi; j < w; j++) src[r + j] = 0f;
                    }
                    int t0 = lo * w + jlo, t1 = (hi - 1) * w + jhi, shift = (u - g.PadTop) * w + v - g.PadLeft;
                    var d = dx.AsSpan(xo + c * hw + t0 + shift, t1 - t0);
                    System.Numerics.Tensors.TensorPrimitives.Add(d, src[t0..t1], d);
                }
            }
    }

    /// <summary>
    /// col[(c·KH+u)·KW+v, co + oi·Wout+oj] = x[c, oi·sh−pt+u, oj·sw−pl+v], 0 in the padding; rows are
    /// <paramref name="ld"/> apart (a chunk's images sit side by side, image i at column offset i·HWo).
    /// </summary>
    internal static void Im2Col(float[] x, int xo, float[] col, int co, int ld, in ConvGeom g)
    {
        if (IsShiftable(g)) { Im2ColShift(x, xo, col, co, ld, g); return; }
        int hw = g.H * g.W;
        for (int c = 0; c < g.Cin; c++)
            for (int u = 0; u < g.KH; u++)
                for (int v = 0; v < g.KW; v++)
                {
                    int ro = ((c * g.KH + u) * g.KW + v) * ld + co;
                    int jlo = FirstValid(g.PadLeft, v, g.StrideW), jhi = EndValid(g.W, g.PadLeft, v, g.StrideW, g.Wout);
                    for (int oi = 0; oi < g.Hout; oi++)
                    {
                        var dst = col.AsSpan(ro + oi * g.Wout, g.Wout);
                        int ih = oi * g.StrideH - g.PadTop + u;
                        if ((uint)ih >= (uint)g.H || jlo >= jhi) { dst.Clear(); continue; }
                        dst[..jlo].Clear();
                        dst[jhi..].Clear();
                        int src = xo + c * hw + ih * g.W + jlo * g.StrideW - g.PadLeft + v;
                        if (g.StrideW == 1) x.AsSpan(src, jhi - jlo).CopyTo(dst[jlo..jhi]);
                        else for (int j = jlo; j < jhi; j++, src += g.StrideW) dst[j] = x[src];
                    }
                }
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: dx[c, ih, iw] += col[...] (padding entries dropped).</summary>
    internal static void Col2ImAdd(float[] col, int co, int ld, float[] dx, int xo, in ConvGeom g)
    {
        if (IsShiftable(g)) { Col2ImAddShift(col, co, ld, dx, xo, g); return; }
        int hw = g.H * g.W;
        for (int c = 0; c < g.Cin; c++)
            for (int u = 0; u < g.KH; u++)
                for (int v = 0; v < g.KW; v++)
                {
                    int ro = ((c * g.KH + u) * g.KW + v) * ld + co;
                    int jlo = FirstValid(g.PadLeft, v, g.StrideW), jhi = EndValid(g.W, g.PadLeft, v, g.StrideW, g.Wout);
                    if (jlo >= jhi) continue;
                    for (int oi = 0; oi < g.Hout; oi++)
                    {
                        int ih = oi * g.StrideH - g.PadTop + u;
                        if ((uint)ih >= (uint)g.H) continue;
                        var src = col.AsSpan(ro + oi * g.Wout + jlo, jhi - jlo);
                        int d = xo + c * hw + ih * g.W + jlo * g.StrideW - g.PadLeft + v;
                        if (g.StrideW == 1)
                        {
                            var dst = dx.AsSpan(d, jhi - jlo);
                            System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);
                        }
                        else for (int j = 0; j < src.Length; j++, d += g.StrideW) dx[d] += src[j];
                    }
                }
    }
}

public sealed partial class CpuBackend
{
    protected override void Conv2dForwardCore(Tensor x, Tensor w, Tensor y, in ConvGeom g)
        => CpuConv.Forward(Array(x), Array(w), Array(y), g);

    protected override void Conv2dBackwardInputCore(Tensor dy, Tensor w, Tensor dx, in ConvGeom g)
        => CpuConv.BackwardInput(Array(dy), Array(w), Array(dx), g);

    // The k4 s2 p1 kernel writes every dx element once, so it can store instead of add; the phase and col2im forms
    // accumulate over taps/phases and keep the fill.
    protected override bool HasConv2dBackwardInputOverwrite(in ConvGeom g) => CpuConvBackwardInputK4S2.Supports(g);

    protected override void Conv2dBackwardInputOverwriteCore(Tensor dy, Tensor w, Tensor dx, in ConvGeom g)
        => CpuConvBackwardInputK4S2.Run(Array(dy), Array(w), Array(dx), g, overwrite: true);

    protected override void Conv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor dw, in ConvGeom g)
        => CpuConv.BackwardWeight(Array(x), Array(dy), Array(dw), g);
}
