using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// dW += Σ_n dy_n · col(x_n)ᵀ as an implicit GEMM: M = Cout, N = CKK (taps), K = output pixels of a run of images,
/// the form CpuConv.BackwardWeight keeps for stride-1 convs (the 3x3 / 2x3 convs of the 8x8 latent models): there each
/// tap's pixel panel is one contiguous load, and this form measured ~10 % less time than the transposed one of
/// <see cref="CpuConvBackwardWeightGemm"/>, which strided convs take (bench conv_small, docs/results.md).
/// with neither the column matrix nor a gathered copy of dy. A-panels are packed straight from dy; B-panels
/// (NR taps × K pixels) come from <see cref="ConvTaps"/> — an NR×NR block of im2col rows into an L1 scratch,
/// assembled from pixel sub-panels of one image each — then 8×8 register transposes put each pixel's NR taps side by side.
/// <para>
/// Why: the im2col form wrote the column matrix (KH·KW times the input) to memory, re-read it through the
/// transposed-B packing, and summed per-thread partial dW buffers; here col(x) only ever exists NR×NR at a time.
/// The reduction runs across images — K blocks of <see cref="CpuGemm.KC"/> pixels, 16 images at a 4x4 map — because
/// a block per image (K = 16 at 4x4, 64 at 8x8) spent more on loading and storing the C tile and on per-image
/// packing than on FMAs.
/// </para>
/// <para>
/// Threads split dW by column (tap) ranges; when there are fewer tap panels than 2 per thread (the 1-channel input
/// conv: 16 taps) the images are also cut into fixed parts, each summed into its own partial dW, the partials added
/// in part order at the end. Each weight element is summed in one fixed order for a given thread count — parts
/// ascending, within a part pixel blocks ascending (images ascending), an FMA chain per block.
/// See <see cref="Supports"/> for when it applies; CpuConv.BackwardWeight uses im2col otherwise.
/// </para>
/// </summary>
internal static unsafe class CpuConvBackwardWeightTapsGemm
{
    [ThreadStatic] private static float[]? _bufA, _bufB, _block, _tile;

    public static void Run(float[] x, float[] dy, float[] dw, ConvGeom g)
    {
        bool narrow = Narrow(g);
        int ckk = g.Ckk, nr = narrow ? 16 : CpuGemm.NR, panels = (ckk + nr - 1) / nr, wsz = g.WeightSize;
        int pw = narrow ? 16 : PixelPanel(g);
        var taps = ConvTaps.Build(g, pw);
        // Work items: ranges of tap panels (at least 2 per thread when there are enough panels) × image parts.
        int tapItems = Math.Min(panels, 2 * CpuParallel.Threads);
        int parts = Math.Max(1, Math.Min(g.N, (2 * CpuParallel.Threads + tapItems - 1) / tapItems));
        float[]? partial = parts > 1 ? ArrayPool<float>.Shared.Rent((parts - 1) * wsz) : null;
        try
        {
            if (partial != null) partial.AsSpan(0, (parts - 1) * wsz).Clear();
            fixed (float* px = x, pdy = dy, pdw = dw, ppart = partial)
            {
                var job = new Job(g, taps, narrow, pw, (nint)px, x.Length, (nint)pdy, (nint)pdw, (nint)ppart, panels, tapItems, parts);
                CpuParallel.For(tapItems * parts, 1, (s, e) =>
                {
                    for (int i = s; i < e; i++) job.Run(i);
                });
            }
            var acc = dw.AsSpan(0, wsz);
            for (int p = 1; p < parts; p++)
                System.Numerics.Tensors.TensorPrimitives.Add(acc, partial.AsSpan((p - 1) * wsz, wsz), acc);
        }
        finally
        {
            if (partial != null) ArrayPool<float>.Shared.Return(partial);
        }
    }

    /// <summary>Pixels per ConvTaps panel: NR, or 16 on maps whose HWo is a multiple of 16 but not of NR (4x4).</summary>
    private static int PixelPanel(in ConvGeom g) => g.Hout * g.Wout % CpuGemm.NR == 0 ? CpuGemm.NR : 16;

    /// <summary>
    /// At most 16 taps (the 1-channel input conv, k4: 16) on a 32-wide default tile would compute half its columns
    /// for nothing: such convs run the 16×16 kernel on 16-tap panels instead.
    /// </summary>
    private static bool Narrow(in ConvGeom g) => g.Ckk <= 16 && Vector512.IsHardwareAccelerated && CpuGemm.NR == 32;

    private readonly struct Job(ConvGeom g, ConvTaps taps, bool narrow, int pw, nint px, int xLength, nint pdy, nint pdw, nint ppart,
        int panels, int tapItems, int parts)
    {
        public void Run(int item)
        {
            int m = g.Cout, ckk = g.Ckk, hwo = g.Hout * g.Wout;
            int mr = narrow ? 16 : CpuGemm.MR, nr = narrow ? 16 : CpuGemm.NR, mPad = CpuGemm.RoundUp(m, mr);
            int part = item / tapItems, ti = item - part * tapItems;
            int p0 = (int)((long)panels * ti / tapItems), p1 = (int)((long)panels * (ti + 1) / tapItems);
            int n0 = (int)((long)g.N * part / parts), n1 = (int)((long)g.N * (part + 1) / parts);
            if (p1 <= p0 || n1 <= n0) return;
            int kcMax = Math.Min((n1 - n0) * hwo, CpuGemm.KC);
            float* a = CpuGemm.Buffer(ref _bufA, mPad * kcMax);
            float* b = CpuGemm.Buffer(ref _bufB, (p1 - p0) * nr * kcMax);
            float* block = CpuGemm.Buffer(ref _block, nr * nr);
            float* tile = CpuGemm.Buffer(ref _tile, mr * nr);
            float* x = (float*)px, dy = (float*)pdy;
            float* dw = part == 0 ? (float*)pdw : (float*)ppart + (long)(part - 1) * g.WeightSize;
            for (int j0 = n0 * hwo, jEnd = n1 * hwo; j0 < jEnd; j0 += CpuGemm.KC)
            {
                int kc = Math.Min(CpuGemm.KC, jEnd - j0); // a multiple of the pixel panel: HWo is
                PackDy(dy, j0, kc, a, mr);
                for (int p = p0; p < p1; p++)
                    PackTaps(x, j0, kc, p * nr, Math.Min(nr, ckk - p * nr), block, b + (long)(p - p0) * nr * kc);
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
                            CpuGemm.Micro(narrow, kc, ap, bp, cp, ckk, 1f, 0f, CpuGemm.ModeAccumulate);
                            continue;
                        }
                        // Edge tile (Cout not a multiple of MR, or the last tap panel): scratch tile, same kernel.
                        new Span<float>(tile, mr * nr).Clear();
                        for (int r = 0; r < rows; r++)
                            new ReadOnlySpan<float>(cp + (long)r * ckk, cols).CopyTo(new Span<float>(tile + r * nr, cols));
                        CpuGemm.Micro(narrow, kc, ap, bp, tile, nr, 1f, 0f, CpuGemm.ModeAccumulate);
                        for (int r = 0; r < rows; r++)
                            new ReadOnlySpan<float>(tile + r * nr, cols).CopyTo(new Span<float>(cp + (long)r * ckk, cols));
                    }
                }
            }
        }

        /// <summary>
        /// A panels of dy over global pixel columns j0 … j0+kc−1, which may span several images: each image's run
        /// of columns is packed by CpuGemm.PackA into its place (column offset k lands at k·MR in each row panel).
        /// </summary>
        private void PackDy(float* dy, int j0, int kc, float* a, int mr)
        {
            int m = g.Cout, hwo = g.Hout * g.Wout;
            for (int k = 0; k < kc;)
            {
                int img = (j0 + k) / hwo, pix = j0 + k - img * hwo, len = Math.Min(hwo - pix, kc - k);
                float* dyImg = dy + (long)img * m * hwo;
                for (int ir = 0; ir < m; ir += mr)
                    CpuGemm.PackA(false, dyImg, hwo, ir, pix, Math.Min(mr, m - ir), len, a + (long)ir * kc + (long)k * mr, mr);
                k += len;
            }
        }

        /// <summary>
        /// B panel for taps t0 … t0+count−1 over pixels j … j+kc−1 (global column j): dst[k·NR + t] = col[t0+t, j+k]
        /// (taps past count are 0). Each NR-pixel slice is an NR×NR im2col block in L1 — filled one pixel panel
        /// (NR or 16 pixels of one image) at a time — transposed 8×8 at a time.
        /// </summary>
        private void PackTaps(float* x, int j, int kc, int t0, int count, float* block, float* dst)
        {
            int nr = narrow ? 16 : CpuGemm.NR;
            if (count < nr) new Span<float>(block + count * nr, (nr - count) * nr).Clear();
            for (int q = 0; q < kc; q += nr)
            {
                int width = Math.Min(nr, kc - q); // < NR only for a last 16-pixel slice
                for (int s = 0; s < width; s += pw)
                    taps.Pack(x, xLength, j + q + s, t0, count, block + s, nr);
                float* d = dst + (long)q * nr;
                for (int tb = 0; tb < nr; tb += 8)
                    for (int pbk = 0; pbk < width; pbk += 8)
                        CpuGemm.Transpose8x8(block + tb * nr + pbk, nr, d + pbk * nr + tb, nr);
            }
        }
    }

    /// <summary>
    /// AVX2 (transposes, gathers), and HWo a multiple of 16 — of the pixel panel (NR, which is 16 or 32, or 16 for
    /// 4x4 maps) — so that a panel never straddles two images. Few tap panels (the 1-channel input conv) no longer
    /// leave cores idle: the images are split too.
    /// </summary>
    public static bool Supports(in ConvGeom g) => Avx2.IsSupported && g.Ckk > 0 && g.Hout * g.Wout % 16 == 0;
}
