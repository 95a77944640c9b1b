using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// dW += Σ_n dy_n · col(x_n)ᵀ as an implicit GEMM: M = Cout, N = CKK (taps), K = output pixels, with neither the
/// column matrix nor a gathered copy of dy. A-panels are packed straight from dy (one image's pixels at a time);
/// B-panels (NR taps × K pixels) come from <see cref="ConvTaps"/> — an NR×NR block of im2col rows into an L1
/// scratch — then 8×8 register transposes put each pixel's NR taps side by side.
/// <para>
/// Why: the im2col form wrote the column matrix (KH·KW times the input) to memory, re-read it through the
/// transposed-B packing, and summed per-thread partial dW buffers; here col(x) only ever exists NR×NR at a time.
/// </para>
/// <para>
/// Threads split dW by column (tap) ranges, so each weight element is summed by one thread in one fixed order —
/// images ascending, pixel blocks ascending, an FMA chain per block — deterministic for any thread count.
/// See <see cref="Supports"/> for when it applies; CpuConv.BackwardWeight uses im2col otherwise.
/// </para>
/// </summary>
internal static unsafe class CpuConvBackwardWeightGemm
{
    [ThreadStatic] private static float[]? _bufA, _bufB, _block, _tile;

    public static void Run(float[] x, float[] dy, float[] dw, ConvGeom g)
    {
        int ckk = g.Ckk, nr = CpuGemm.NR, panels = (ckk + nr - 1) / nr;
        var taps = ConvTaps.Build(g, nr);
        // Work items are ranges of tap panels: at least 2 per thread when there are enough panels.
        int items = Math.Min(panels, 2 * CpuParallel.Threads);
        fixed (float* px = x, pdy = dy, pdw = dw)
        {
            var job = new Job(g, taps, (nint)px, x.Length, (nint)pdy, (nint)pdw, panels, items);
            CpuParallel.For(items, 1, (s, e) =>
            {
                for (int i = s; i < e; i++) job.Run(i);
            });
        }
    }

    private readonly struct Job(ConvGeom g, ConvTaps taps, nint px, int xLength, nint pdy, nint pdw, int panels, int items)
    {
        public void Run(int item)
        {
            int m = g.Cout, ckk = g.Ckk, hwo = g.Hout * g.Wout;
            int mr = CpuGemm.MR, nr = CpuGemm.NR, mPad = CpuGemm.RoundUp(m, mr);
            int p0 = (int)((long)panels * item / items), p1 = (int)((long)panels * (item + 1) / items);
            if (p1 <= p0) return;
            int kcMax = Math.Min(hwo, CpuGemm.KC);
            float* a = CpuGemm.Buffer(ref _bufA, mPad * kcMax);
            float* b = CpuGemm.Buffer(ref _bufB, (p1 - p0) * nr * kcMax);
            float* block = CpuGemm.Buffer(ref _block, nr * nr);
            float* tile = CpuGemm.Buffer(ref _tile, mr * nr);
            float* x = (float*)px, dy = (float*)pdy, dw = (float*)pdw;
            for (int img = 0; img < g.N; img++)
            {
                float* dyImg = dy + (long)img * m * hwo;
                for (int pb = 0; pb < hwo; pb += CpuGemm.KC)
                {
                    int kc = Math.Min(CpuGemm.KC, hwo - pb); // a multiple of NR: HWo is
                    CpuGemm.PackA(false, dyImg, hwo, 0, pb, m, kc, a, mr);
                    for (int p = p0; p < p1; p++)
                        PackTaps(x, img * hwo + pb, kc, p * nr, Math.Min(nr, ckk - p * nr), block, b + (long)(p - p0) * nr * kc);
                    // Tap panel outer, rows inner (as in CpuGemm): one kc×NR panel of col(x) stays in L1 while
                    // dy's MR-row panels stream from L2.
                    for (int p = p0; p < p1; p++)
                    {
                        int t0 = p * nr, cols = Math.Min(nr, ckk - t0);
                        float* bp = b + (long)(p - p0) * nr * kc;
                        for (int ir = 0; ir < m; ir += mr)
                        {
                            int rows = Math.Min(mr, m - ir);
                            float* ap = a + (long)ir * kc;
                            float* cp = dw + (long)ir * ckk + t0;
                            if (rows == mr && cols == nr)
                            {
                                CpuGemm.Micro(false, kc, ap, bp, cp, ckk, 1f, 0f, CpuGemm.ModeAccumulate);
                                continue;
                            }
                            // Edge tile (Cout not a multiple of MR, or the last tap panel): scratch tile, same kernel.
                            new Span<float>(tile, mr * nr).Clear();
                            for (int r = 0; r < rows; r++)
                                new ReadOnlySpan<float>(cp + (long)r * ckk, cols).CopyTo(new Span<float>(tile + r * nr, cols));
                            CpuGemm.Micro(false, kc, ap, bp, tile, nr, 1f, 0f, CpuGemm.ModeAccumulate);
                            for (int r = 0; r < rows; r++)
                                new ReadOnlySpan<float>(tile + r * nr, cols).CopyTo(new Span<float>(cp + (long)r * ckk, cols));
                        }
                    }
                }
            }
        }

        /// <summary>
        /// B panel for taps t0 … t0+count−1 over pixels j … j+kc−1 (global column j): dst[k·NR + t] = col[t0+t, j+k]
        /// (taps past count are 0). Each NR-pixel slice is an NR×NR im2col block in L1, transposed 8×8 at a time.
        /// </summary>
        private void PackTaps(float* x, int j, int kc, int t0, int count, float* block, float* dst)
        {
            int nr = CpuGemm.NR;
            if (count < nr) new Span<float>(block + count * nr, (nr - count) * nr).Clear();
            for (int q = 0; q < kc; q += nr)
            {
                taps.Pack(x, xLength, j + q, t0, count, block, nr);
                float* d = dst + (long)q * nr;
                for (int tb = 0; tb < nr; tb += 8)
                    for (int pbk = 0; pbk < nr; pbk += 8)
                        CpuGemm.Transpose8x8(block + tb * nr + pbk, nr, d + pbk * nr + tb, nr);
            }
        }
    }

    /// <summary>
    /// The forward's conditions, and enough tap panels for every thread twice over: threads split dW by taps, so a
    /// conv with few taps (the 1-channel input conv, narrow 1x1s) would leave cores idle; im2col splits by images.
    /// </summary>
    public static bool Supports(in ConvGeom g)
        => CpuConvGemm.Supports(g) && Avx.IsSupported && (g.Ckk + CpuGemm.NR - 1) / CpuGemm.NR >= 2 * CpuParallel.Threads;
}
