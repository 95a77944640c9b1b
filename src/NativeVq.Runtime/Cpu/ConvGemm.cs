using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// Convolution forward as an implicit GEMM: <c>y [Cout, N·HWo] = W [Cout, CKK] · col(x)</c> with the column
/// matrix never materialised. Each KC×NR micro-panel of B that <see cref="CpuGemm"/> would pack from col(x)
/// is packed straight from x (im2col and packing in one pass), and the microkernel writes its tiles straight
/// into y (NCHW). The weight is packed once per call instead of once per image chunk.
/// <para>
/// Why: at the small feature maps of the default models the im2col copy, the repack of that copy and the
/// scatter of the GEMM result into NCHW cost as much as the FMAs. This removes all three passes.
/// </para>
/// <para>
/// Same numbers as the im2col path, bit for bit: the same KC blocks, the same microkernel, the same k order per
/// element (the tests compare the two paths exactly). Applies when a micro-panel never straddles two images
/// (HWo a multiple of NR) and AVX2 is there; <see cref="CpuConv.Forward"/> uses the im2col path otherwise.
/// </para>
/// </summary>
internal static unsafe class CpuConvGemm
{
    /// <summary>Column block of one work item: its packed B (KC × 256 floats, 256 KB) stays in L2.</summary>
    private const int MaxBlockCols = 256;

    [ThreadStatic] private static float[]? _bufB, _tile;

    public static bool Supports(in ConvGeom g) => Avx2.IsSupported && g.Hout * g.Wout % CpuGemm.NR == 0 && g.Ckk > 0;

    /// <summary>y = conv(x, w) (overwrite), or y += conv(x, w) with <paramref name="accumulate"/>.</summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeom g, bool accumulate = false)
    {
        int m = g.Cout, k = g.Ckk, hwo = g.Hout * g.Wout, cols = g.N * hwo;
        int mr = CpuGemm.MR, nr = CpuGemm.NR, mPad = CpuGemm.RoundUp(m, mr);
        var taps = TapTable.Build(g, nr);
        var packedW = ArrayPool<float>.Shared.Rent(mPad * k + 16);
        try
        {
            fixed (float* pw = w, pa0 = packedW, px = x, py = y)
            {
                // 64-byte aligned start (ArrayPool arrays are not pinned, but they stay fixed for this call).
                float* pa = (float*)(((nint)pa0 + 63) & ~(nint)63);
                for (int pc = 0; pc < k; pc += CpuGemm.KC)
                    CpuGemm.PackA(false, pw, k, 0, pc, m, Math.Min(CpuGemm.KC, k - pc), pa + (long)pc * mPad, mr);

                // Enough blocks for every thread twice over when the batch allows; block edges depend only on the shape.
                int threads = CpuParallel.Threads;
                int nc = Math.Clamp(CpuGemm.RoundUp((cols + 2 * threads - 1) / (2 * threads), nr), nr, MaxBlockCols);
                int blocks = (cols + nc - 1) / nc;
                var job = new Job(g, taps, (nint)pa, (nint)px, x.Length, (nint)py, mPad, nc, accumulate);
                double flopsPerBlock = g.Flops / blocks;
                CpuParallel.For(blocks, (int)Math.Max(1, 2e6 / Math.Max(1, flopsPerBlock)), (s, e) =>
                {
                    for (int b = s; b < e; b++) job.Run(b);
                });
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packedW);
        }
    }

    private readonly struct Job(ConvGeom g, TapTable taps, nint pa, nint px, int xLength, nint py, int mPad, int nc, bool accumulate)
    {
        public void Run(int block)
        {
            int m = g.Cout, k = g.Ckk, hwo = g.Hout * g.Wout, cols = g.N * hwo;
            int mr = CpuGemm.MR, nr = CpuGemm.NR;
            int j0 = block * nc, ncols = Math.Min(nc, cols - j0);
            float* pB = CpuGemm.Buffer(ref _bufB, CpuGemm.KC * nc);
            float* tile = CpuGemm.Buffer(ref _tile, mr * nr);
            float* x = (float*)px, y = (float*)py, a = (float*)pa;
            for (int pc = 0; pc < k; pc += CpuGemm.KC)
            {
                int kc = Math.Min(CpuGemm.KC, k - pc);
                int mode = pc == 0 && !accumulate ? CpuGemm.ModeOverwrite : CpuGemm.ModeAccumulate;
                for (int jp = 0; jp < ncols; jp += nr)
                    taps.Pack(x, xLength, j0 + jp, pc, kc, pB + (long)jp * kc);
                for (int ir = 0; ir < m; ir += mr)
                {
                    int rows = Math.Min(mr, m - ir);
                    float* ap = a + (long)pc * mPad + (long)ir * kc;
                    for (int jp = 0; jp < ncols; jp += nr)
                    {
                        int col = j0 + jp, img = col / hwo, p = col - img * hwo;
                        float* cp = y + ((long)img * m + ir) * hwo + p;
                        float* bp = pB + (long)jp * kc;
                        if (rows == mr)
                        {
                            CpuGemm.Micro(false, kc, ap, bp, cp, hwo, 1f, 0f, mode);
                            continue;
                        }
                        // Edge rows (Cout not a multiple of MR): the same microkernel on a scratch tile.
                        if (mode != CpuGemm.ModeOverwrite)
                        {
                            new Span<float>(tile, mr * nr).Clear();
                            for (int r = 0; r < rows; r++)
                                new ReadOnlySpan<float>(cp + (long)r * hwo, nr).CopyTo(new Span<float>(tile + r * nr, nr));
                        }
                        CpuGemm.Micro(false, kc, ap, bp, tile, nr, 1f, 0f, mode);
                        for (int r = 0; r < rows; r++)
                            new ReadOnlySpan<float>(tile + r * nr, nr).CopyTo(new Span<float>(cp + (long)r * hwo, nr));
                    }
                }
            }
        }
    }

    /// <summary>
    /// Where each lane of a micro-panel reads x, per tap: for panel q of an image (output pixels q·NR … q·NR+NR−1)
    /// and tap (u, v), lane t reads plane offset <c>Offset[t]</c> (ih·W + iw) or is padding (mask 0).
    /// A tap whose valid lanes read consecutive elements (stride 1, Wout = W) is marked contiguous: one masked
    /// vector load instead of a gather.
    /// </summary>
    private sealed class TapTable
    {
        private readonly ConvGeom _g;
        private readonly int _nr, _taps;
        private readonly int[] _offset, _mask; // [panel, tap, lane]
        private readonly int[] _base;          // [panel, tap]: first lane's offset when contiguous, else int.MinValue

        private TapTable(ConvGeom g, int nr)
        {
            _g = g;
            _nr = nr;
            _taps = g.KH * g.KW;
            int panels = g.Hout * g.Wout / nr;
            _offset = new int[panels * _taps * nr];
            _mask = new int[panels * _taps * nr];
            _base = new int[panels * _taps];
            for (int q = 0; q < panels; q++)
                for (int u = 0; u < g.KH; u++)
                    for (int v = 0; v < g.KW; v++)
                    {
                        int tap = u * g.KW + v, row = (q * _taps + tap) * nr;
                        bool contiguous = true;
                        int first = 0;
                        for (int t = 0; t < nr; t++)
                        {
                            int pix = q * nr + t, oi = pix / g.Wout, oj = pix - oi * g.Wout;
                            int ih = oi * g.StrideH - g.PadTop + u, iw = oj * g.StrideW - g.PadLeft + v;
                            bool valid = (uint)ih < (uint)g.H && (uint)iw < (uint)g.W;
                            int off = ih * g.W + iw;
                            _offset[row + t] = valid ? off : 0;
                            _mask[row + t] = valid ? -1 : 0;
                            if (t == 0) first = off;
                            else if (off != first + t) contiguous = false;
                        }
                        _base[q * _taps + tap] = contiguous ? first : int.MinValue;
                    }
        }

        [ThreadStatic] private static TapTable? _last;

        /// <summary>The table for this geometry (the last one built on this thread is reused: models repeat shapes).</summary>
        public static TapTable Build(in ConvGeom g, int nr)
        {
            var t = _last;
            if (t is null || t._nr != nr || !SameWindows(t._g, g)) _last = t = new TapTable(g, nr);
            return t;
        }

        private static bool SameWindows(in ConvGeom a, in ConvGeom b) => a with { N = 0, Cout = 0 } == b with { N = 0, Cout = 0 };

        /// <summary>Packs rows pc … pc+kc−1 of col(x) for the NR columns starting at global column j into dst[kk·NR + t].</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Pack(float* x, int xLength, int j, int pc, int kc, float* dst)
        {
            var g = _g;
            int hw = g.H * g.W, hwo = g.Hout * g.Wout, nr = _nr;
            int img = j / hwo, q = (j - img * hwo) / nr;
            long imgBase = (long)img * g.Cin * hw;
            fixed (int* offs0 = _offset, masks0 = _mask, bases = _base)
            {
                for (int kk = 0; kk < kc; kk++)
                {
                    int kidx = pc + kk, c = kidx / _taps, tap = kidx - c * _taps;
                    long plane = imgBase + (long)c * hw;
                    int slot = q * _taps + tap;
                    int* offs = offs0 + slot * nr;
                    int* masks = masks0 + slot * nr;
                    float* d = dst + kk * nr;
                    int b = bases[slot];
                    // Contiguous: one unaligned load per 8 lanes, padding lanes zeroed by the mask (an AND, so even
                    // a NaN read from a neighbouring row becomes +0). Only when the whole run lies inside x.
                    if (b != int.MinValue && plane + b >= 0 && plane + b + nr <= xLength)
                    {
                        float* s = x + plane + b;
                        for (int t = 0; t < nr; t += 8)
                            Avx.Store(d + t, Avx.And(Avx.LoadVector256(s + t), Avx.LoadVector256(masks + t).AsSingle()));
                    }
                    else
                    {
                        float* s = x + plane;
                        for (int t = 0; t < nr; t += 8)
                            Avx.Store(d + t, Avx2.GatherMaskVector256(Vector256<float>.Zero, s, Avx.LoadVector256(offs + t),
                                Avx.LoadVector256(masks + t).AsSingle(), 4));
                    }
                }
            }
        }
    }
}
