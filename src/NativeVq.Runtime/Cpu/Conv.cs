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
    [ThreadStatic] private static float[]? _col;

    /// <summary>This thread's column buffer, grown on demand (never shrunk).</summary>
    private static float[] ColBuffer(int length)
    {
        var c = _col;
        if (c is null || c.Length < length) _col = c = GC.AllocateUninitializedArray<float>(Math.Max(length, 1024));
        return c;
    }

    /// <summary>
    /// GEMM for one image. <paramref name="outerParallel"/> says the caller already runs images in parallel,
    /// so the GEMM stays on this thread instead of nesting a second parallel loop.
    /// </summary>
    private static void Gemm(in GemmSpec s, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, bool outerParallel)
        => CpuGemm.Sgemm(s, a, b, c, parallel: !outerParallel);

    /// <summary>Runs body(n, outerParallel) for every image: in parallel when there are several images.</summary>
    private static void ForImages(int n, Action<int, bool> body)
    {
        if (n == 1) { body(0, false); return; }
        CpuParallel.For(n, 1, (s, e) => { for (int i = s; i < e; i++) body(i, true); });
    }

    /// <summary>y = conv(x, w), overwriting y (bias is added by the caller).</summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeom g)
    {
        int hwo = g.Hout * g.Wout, ckk = g.Ckk, xs = g.Cin * g.H * g.W, ys = g.Cout * hwo;
        var spec = new GemmSpec(false, false, g.Cout, hwo, ckk);
        ForImages(g.N, (n, outer) =>
        {
            if (g.IsPointwise)
            {
                Gemm(spec, w.AsSpan(0, g.WeightSize), x.AsSpan(n * xs, xs), y.AsSpan(n * ys, ys), outer);
                return;
            }
            var col = ColBuffer(ckk * hwo);
            Im2Col(x, n * xs, col, g);
            Gemm(spec, w.AsSpan(0, g.WeightSize), col.AsSpan(0, ckk * hwo), y.AsSpan(n * ys, ys), outer);
        });
    }

    /// <summary>dx += convᵀ(dy, w).</summary>
    public static void BackwardInput(float[] dy, float[] w, float[] dx, ConvGeom g)
    {
        int hwo = g.Hout * g.Wout, ckk = g.Ckk, xs = g.Cin * g.H * g.W, ys = g.Cout * hwo;
        ForImages(g.N, (n, outer) =>
        {
            if (g.IsPointwise)
            {
                // dx_n [Cin, HW] += Wᵀ · dy_n, straight into dx (beta 1).
                Gemm(new GemmSpec(true, false, ckk, hwo, g.Cout, Beta: 1f), w.AsSpan(0, g.WeightSize), dy.AsSpan(n * ys, ys), dx.AsSpan(n * xs, xs), outer);
                return;
            }
            var col = ColBuffer(ckk * hwo);
            Gemm(new GemmSpec(true, false, ckk, hwo, g.Cout), w.AsSpan(0, g.WeightSize), dy.AsSpan(n * ys, ys), col.AsSpan(0, ckk * hwo), outer);
            Col2ImAdd(col, dx, n * xs, g);
        });
    }

    /// <summary>dw += Σ_n dy_n · col(x_n)ᵀ, summed per fixed batch chunk, chunks combined in order.</summary>
    public static void BackwardWeight(float[] x, float[] dy, float[] dw, ConvGeom g)
    {
        int hwo = g.Hout * g.Wout, ckk = g.Ckk, xs = g.Cin * g.H * g.W, ys = g.Cout * hwo, wsz = g.WeightSize;
        var spec = new GemmSpec(false, true, g.Cout, ckk, hwo, Beta: 1f);
        int chunks = CpuParallel.ChunkCount(g.N, 1);
        if (chunks == 1)
        {
            for (int n = 0; n < g.N; n++) AccumulateImage(n, dw, 0, false);
            return;
        }
        var partial = ArrayPool<float>.Shared.Rent(chunks * wsz);
        try
        {
            partial.AsSpan(0, chunks * wsz).Clear();
            CpuParallel.ForChunks(g.N, 1, (c, s, e) =>
            {
                for (int n = s; n < e; n++) AccumulateImage(n, partial, c * wsz, true);
            });
            var acc = dw.AsSpan(0, wsz);
            for (int c = 0; c < chunks; c++)
                System.Numerics.Tensors.TensorPrimitives.Add(acc, partial.AsSpan(c * wsz, wsz), acc);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partial);
        }

        void AccumulateImage(int n, float[] target, int offset, bool outer)
        {
            ReadOnlySpan<float> col;
            if (g.IsPointwise) col = x.AsSpan(n * xs, xs);
            else
            {
                var buf = ColBuffer(ckk * hwo);
                Im2Col(x, n * xs, buf, g);
                col = buf.AsSpan(0, ckk * hwo);
            }
            Gemm(spec, dy.AsSpan(n * ys, ys), col, target.AsSpan(offset, wsz), outer);
        }
    }

    /// <summary>First output column j whose tap v reads a real input column: j·s − pad + v ≥ 0.</summary>
    private static int FirstValid(int pad, int v, int s)
    {
        int a = pad - v;
        return a <= 0 ? 0 : (a + s - 1) / s;
    }

    /// <summary>One past the last output column whose tap reads inside: j·s − pad + v ≤ size − 1.</summary>
    private static int EndValid(int size, int pad, int v, int s, int outSize)
    {
        int b = size - 1 + pad - v;
        return b < 0 ? 0 : Math.Min(outSize, b / s + 1);
    }

    /// <summary>col[(c·KH+u)·KW+v, oi·Wout+oj] = x[c, oi·sh−pt+u, oj·sw−pl+v], 0 in the padding.</summary>
    internal static void Im2Col(float[] x, int xo, float[] col, in ConvGeom g)
    {
        int hwo = g.Hout * g.Wout, hw = g.H * g.W;
        for (int c = 0; c < g.Cin; c++)
            for (int u = 0; u < g.KH; u++)
                for (int v = 0; v < g.KW; v++)
                {
                    int ro = ((c * g.KH + u) * g.KW + v) * hwo;
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
    internal static void Col2ImAdd(float[] col, float[] dx, int xo, in ConvGeom g)
    {
        int hwo = g.Hout * g.Wout, hw = g.H * g.W;
        for (int c = 0; c < g.Cin; c++)
            for (int u = 0; u < g.KH; u++)
                for (int v = 0; v < g.KW; v++)
                {
                    int ro = ((c * g.KH + u) * g.KW + v) * hwo;
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

    protected override void Conv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor dw, in ConvGeom g)
        => CpuConv.BackwardWeight(Array(x), Array(dy), Array(dw), g);
}
