using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// dW += Σ_n dy_n · col(x_n)ᵀ computed transposed, as dWᵀ [CKK, Cout] = col(x) · dyᵀ: M = taps, N = Cout,
/// K = output pixels of the whole batch. The microkernel broadcasts its A operand straight from MR rows of a
/// column block (im2col rows, contiguous in pixels, written output row by output row by <see cref="ConvColumnRows"/>)
/// and loads B from dyᵀ, packed as [Cout panel][pixel][NR]. CpuConv.BackwardWeight runs it for strided convs
/// (the VAE's and GAN's k4 s2 p1); stride-1 convs keep <see cref="CpuConvBackwardWeightTapsGemm"/>.
/// <para>
/// Why this way round (issue 10): with dy as A and col(x) as B (the tap-panel form) every NR×NR block of col(x) had
/// to be transposed into the pixel-major B layout — at 8x8 and 4x4 outputs through 8-lane gathers — and dy was
/// re-packed by every tap range; here col(x) is used in the layout it is written in (no transposes) and dy, 4–16×
/// smaller than col(x) at the k4 s2 convs, is transposed once.
/// </para>
/// <para>
/// Work items are ranges of MR-tap panels, each over all pixels, so every dWᵀ element is computed by one item and
/// threads need no partial sums; dyᵀ is packed once per call and shared. Only when there are fewer tap panels than
/// 2 per thread (the 1-channel input convs: 16 taps) are the images cut into 2·threads fixed parts instead, one item
/// each, transposing its own blocks of dy and summing into its own partial dWᵀ; the partials are added in part order.
/// Summation order of each weight: parts ascending, within a part blocks of whole output rows ascending (about
/// <see cref="KC"/> pixels, spanning images), one FMA chain per block; then dw += dWᵀ. Fixed for a given thread
/// count (with one part, for any), independent of timing.
/// </para>
/// <para>
/// k4 s2 p1 with AVX-512 and input rows of 16+ floats (the VAE's and GAN's down-sampling convs but their 4x4-output
/// stages): no column rows at all. Each block's images are
/// copied once, for the item's channels, into a zero-bordered buffer, and the microkernel broadcasts its taps straight
/// from it: the MR taps of a panel are 2 or 4 kernel rows × 4 kernel columns, i.e. 4 neighbouring floats of 2 or 4
/// buffer rows, 2 floats further on at each next pixel. Column rows wrote CKK·pixels floats per call (4 MB at the
/// VAE's 16→32 stage, 16 per input pixel); the bordered copy writes about one per input pixel. Same products, same
/// order, same +0 in the padding: bit-identical to the column-row path (ConvBackwardWeightBorderedTests).
/// </para>
/// </summary>
internal static unsafe class CpuConvBackwardWeightGemm
{
    /// <summary>The microkernel: tap rows × Cout columns per tile.</summary>
    internal enum Tile
    {
        /// <summary>8 taps × 32 Cout (Vector512, 16 accumulators): the default with AVX-512.</summary>
        Wide8x32,
        /// <summary>16 taps × 16 Cout (Vector512): Cout ≤ 16, where 32 columns would be half padding.</summary>
        Narrow16x16,
        /// <summary>6 taps × 16 Cout (Vector256): without AVX-512.</summary>
        Avx2x6x16,
    }

    /// <summary>Pixels per column block: one block of col rows and its dyᵀ panel (KC×NR) stay in L1/L2.</summary>
    private const int KC = 256;
    /// <summary>Tap rows per column block: ≤ 128 rows × KC pixels = 128 KB, inside L2 next to dyᵀ.</summary>
    private const int RowsPerBlock = 128;

    /// <summary>
    /// dy sizes (floats) up to which dyᵀ is packed on the calling thread. The VAE's dy (64K and 128K floats) is packed
    /// by all threads: on a quiet machine that made the whole call 0.86–0.88 and 0.93–0.95 as long (in-process pairs);
    /// when other processes held the cores, 1.06–1.07 and 1.05–1.06 as long (the second fork/join waits for a core).
    /// </summary>
    private const int SerialDyT = 1 << 14;

    [ThreadStatic] private static float[]? _col, _dyT, _bordered;

    public static void Run(float[] x, float[] dy, float[] dw, ConvGeom g) => Run(x, dy, dw, g, DefaultTile(g));

    /// <summary>Whether the bordered form can run: k4 s2 p1 halving the map, with an AVX-512 tile.</summary>
    internal static bool SupportsBordered(in ConvGeom g, Tile tile) =>
        tile != Tile.Avx2x6x16 && Avx512F.IsSupported && g.KH == 4 && g.KW == 4 && g.StrideH == 2 && g.StrideW == 2
        && g.PadTop == 1 && g.PadLeft == 1 && g.H == 2 * g.Hout && g.W == 2 * g.Wout;

    /// <summary>
    /// Whether the taps are read from a zero-bordered copy of x instead of column rows: where it is supported and the
    /// input rows are at least 16 wide. Rows of 8 (4x4 outputs) are padded to 16 floats in the copy, and there column
    /// rows measured faster (`--only conv_small --quick`, CPU time bordered / column rows: 1.14–1.17 at the VAE's
    /// 32→64, 1.07 at the GAN's 128→256, against 0.76–0.80 at 16→32 and 1→16).
    /// </summary>
    internal static bool ReadsBordered(in ConvGeom g, Tile tile) => SupportsBordered(g, tile) && g.W >= 16;

    internal static Tile DefaultTile(in ConvGeom g) =>
        !Vector512.IsHardwareAccelerated ? Tile.Avx2x6x16 : g.Cout <= 16 ? Tile.Narrow16x16 : Tile.Wide8x32;

    private static (int Mr, int Nr) Size(Tile t) => t switch
    {
        Tile.Wide8x32 => (8, 32),
        Tile.Narrow16x16 => (16, 16),
        _ => (6, 16),
    };

    internal static void Run(float[] x, float[] dy, float[] dw, ConvGeom g, Tile tile) => Run(x, dy, dw, g, tile, ReadsBordered(g, tile));

    /// <param name="bordered">Read the taps from a zero-bordered copy of x (requires <see cref="SupportsBordered"/>);
    /// false writes column rows (the general path, kept callable so tests can compare the two bit for bit).</param>
    internal static void Run(float[] x, float[] dy, float[] dw, ConvGeom g, Tile tile, bool bordered)
    {
        if (bordered && !SupportsBordered(g, tile)) throw new ArgumentException($"bordered taps need k4 s2 p1 and an AVX-512 tile, got {g} {tile}");
        var (mr, nr) = Size(tile);
        int hwo = g.Hout * g.Wout, k = g.N * hwo, ckk = g.Ckk;
        int coutPad = CpuGemm.RoundUp(g.Cout, nr), cPanels = coutPad / nr;
        int tapPanels = (ckk + mr - 1) / mr, dwtSize = tapPanels * mr * coutPad;
        int threads = CpuParallel.Threads;
        // Few tap panels (the 1-channel input convs: 16 taps): the images are cut into fixed parts instead, one work
        // item each, summing into its own partial dWᵀ; each part transposes its own blocks of dy (into L2).
        int parts = tapPanels >= 2 * threads ? 1 : Math.Min(g.N, 2 * threads);
        int tapItems = parts > 1 ? 1 : Math.Min(tapPanels, 4 * threads);
        float[]? dyT = parts > 1 ? null : ArrayPool<float>.Shared.Rent(cPanels * k * nr);
        float[] dwT = ArrayPool<float>.Shared.Rent(parts * dwtSize);
        try
        {
            fixed (float* px = x, pdy = dy, pdw = dw, pdyT = dyT, pdwT = dwT)
            {
                var job = new Job(g, tile, (nint)px, x.Length, (nint)pdy, (nint)pdyT, (nint)pdwT, tapPanels, parts, dwtSize, bordered);
                // A small dy is transposed on the calling thread, where a second fork/join would cost more.
                if (dyT != null && dy.Length <= SerialDyT) job.PackDyT(0, k, pdyT, k);
                else if (dyT != null)
                    CpuParallel.For(g.N, 1, (s, e) => job.PackDyT((long)s * hwo, (e - s) * hwo, (float*)job.DyT + (long)s * hwo * nr, k));
                CpuParallel.For(tapItems * parts, 1, (s, e) =>
                {
                    for (int i = s; i < e; i++) job.Run(i / tapItems, i % tapItems, tapItems);
                });
                AddTransposed(pdwT, coutPad, parts, dwtSize, pdw, g.Cout, ckk);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(dwT);
            if (dyT != null) ArrayPool<float>.Shared.Return(dyT);
        }
    }

    /// <summary>
    /// dw[o, t] += Σ_p dWᵀ_p[t, o]: the parts summed in ascending order into part 0 (one fixed order per element),
    /// then added transposed, 8×8 blocks through register transposes.
    /// </summary>
    private static void AddTransposed(float* dwT, int coutPad, int parts, int dwtSize, float* dw, int cout, int ckk)
    {
        for (int p = 1; p < parts; p++)
            System.Numerics.Tensors.TensorPrimitives.Add(new ReadOnlySpan<float>(dwT, dwtSize),
                new ReadOnlySpan<float>(dwT + (long)p * dwtSize, dwtSize), new Span<float>(dwT, dwtSize));
        float* block = stackalloc float[64];
        int o8 = cout / 8 * 8, t8 = ckk / 8 * 8;
        for (int o = 0; o < o8; o += 8)
            for (int t = 0; t < t8; t += 8)
            {
                CpuGemm.Transpose8x8(dwT + (long)t * coutPad + o, coutPad, block, 8);
                for (int j = 0; j < 8; j++)
                {
                    float* d = dw + (long)(o + j) * ckk + t;
                    Vector256.Store(Vector256.Load(d) + Vector256.Load(block + j * 8), d);
                }
            }
        // The edges: Cout or CKK not a multiple of 8.
        for (int o = 0; o < cout; o++)
            for (int t = o < o8 ? t8 : 0; t < ckk; t++)
                dw[(long)o * ckk + t] += dwT[(long)t * coutPad + o];
    }

    private readonly struct Job(ConvGeom g, Tile tile, nint px, int xLength, nint pdy, nint pdyT, nint pdwT,
        int tapPanels, int parts, int dwtSize, bool bordered)
    {
        public nint DyT => pdyT;

        /// <summary>
        /// dyᵀ of global pixels [j0, j0 + count): dst[cp·panel + (j − j0)·NR + r] = dy[image, cp·NR + r, pixel], 0 for
        /// padded Cout. Runs of 8 pixels of one image go through 8×8 register transposes, the rest element by element.
        /// </summary>
        public void PackDyT(long j0, int count, float* dst, long panel)
        {
            var (_, nr) = Size(tile);
            int hwo = g.Hout * g.Wout, cout = g.Cout, cPanels = CpuGemm.RoundUp(cout, nr) / nr;
            float* dy = (float*)pdy;
            for (int q0 = 0; q0 < count;)
            {
                long j = j0 + q0;
                int n = (int)(j / hwo), pix = (int)(j - (long)n * hwo), len = Math.Min(hwo - pix, count - q0), len8 = len / 8 * 8;
                for (int cp = 0; cp < cPanels; cp++)
                    for (int r0 = 0; r0 < nr; r0 += 8)
                    {
                        int o0 = cp * nr + r0, rows = Math.Min(8, cout - o0);
                        float* d0 = dst + cp * panel * nr + (long)q0 * nr + r0;
                        float* src = dy + ((long)n * cout + o0) * hwo + pix;
                        int q = 0;
                        if (rows == 8)
                            for (; q < len8; q += 8)
                                CpuGemm.Transpose8x8(src + q, hwo, d0 + (long)q * nr, nr);
                        for (; q < len; q++)
                        {
                            float* d = d0 + (long)q * nr;
                            int r = 0;
                            for (; r < rows; r++) d[r] = src[(long)r * hwo + q];
                            for (; r < 8; r++) d[r] = 0f;
                        }
                    }
                q0 += len;
            }
        }

        /// <summary>
        /// Tap panels of item <paramref name="item"/> (of <paramref name="items"/>) over the images of part
        /// <paramref name="part"/>: for each KC-pixel block and ≤ <see cref="RowsPerBlock"/> rows of taps, write the
        /// column block (rows = taps, contiguous pixels), then Cout panels outer, tap panels inner, so one KC×NR panel
        /// of dyᵀ stays in L1 while the column rows stream.
        /// </summary>
        public void Run(int part, int item, int items)
        {
            var (mr, nr) = Size(tile);
            int hwo = g.Hout * g.Wout, k = g.N * hwo, ckk = g.Ckk, coutPad = CpuGemm.RoundUp(g.Cout, nr);
            int p0 = (int)((long)tapPanels * item / items), p1 = (int)((long)tapPanels * (item + 1) / items);
            int n0 = (int)((long)g.N * part / parts), n1 = (int)((long)g.N * (part + 1) / parts);
            if (p1 <= p0 || n1 <= n0) return;
            if (bordered)
            {
                RunBordered(part, p0, p1);
                return;
            }
            // ≤ RowsPerBlock taps per column block, the item's panels cut into equal blocks (no short last block
            // re-reading the dyᵀ panels for a few taps).
            int maxPanels = Math.Max(1, RowsPerBlock / mr), blocks = (p1 - p0 + maxPanels - 1) / maxPanels;
            int panelsPerBlock = (p1 - p0 + blocks - 1) / blocks, rowsPerBlock = Math.Max(1, KC / g.Wout);
            float* col = CpuGemm.Buffer(ref _col, Math.Min(p1 - p0, panelsPerBlock) * mr * rowsPerBlock * g.Wout);
            float* x = (float*)px, dwT = (float*)pdwT + (long)part * dwtSize;
            // No shared dyᵀ (image parts): this item transposes each block of dy itself, [Cout panel][kc][NR].
            float* local = pdyT == 0 ? CpuGemm.Buffer(ref _dyT, coutPad * rowsPerBlock * g.Wout) : null;
            // Pixel blocks of whole output rows (global row r = image·Hout + oi), which may span images.
            for (int r0 = n0 * g.Hout, rEnd = n1 * g.Hout; r0 < rEnd; r0 += rowsPerBlock)
            {
                int rows = Math.Min(rowsPerBlock, rEnd - r0), kc = rows * g.Wout, j0 = r0 * g.Wout;
                bool first = r0 == n0 * g.Hout;
                if (local != null) PackDyT(j0, kc, local, kc);
                for (int b0 = p0; b0 < p1; b0 += panelsPerBlock)
                {
                    int b1 = Math.Min(p1, b0 + panelsPerBlock), t0 = b0 * mr, taps = Math.Min(ckk, b1 * mr) - t0;
                    ConvColumnRows.Pack(x, xLength, g, t0, taps, r0, rows, col, kc);
                    if (taps < (b1 - b0) * mr) new Span<float>(col + (long)taps * kc, ((b1 - b0) * mr - taps) * kc).Clear();
                    for (int cp = 0; cp < coutPad; cp += nr)
                    {
                        float* bp = local != null ? local + (long)(cp / nr) * kc * nr : (float*)pdyT + ((long)(cp / nr) * k + j0) * nr;
                        for (int p = b0; p < b1; p++)
                            Micro(tile, kc, col + (long)(p - b0) * mr * kc, kc, bp, dwT + (long)p * mr * coutPad + cp, coutPad, first);
                    }
                }
            }
        }

        /// <summary>
        /// <see cref="Run"/> for k4 s2 p1: the same blocks of output rows and the same microkernel order over pixels,
        /// the taps broadcast from the block's images copied with a zero border (channels of tap panels p0..p1 only).
        /// </summary>
        private void RunBordered(int part, int p0, int p1)
        {
            var (mr, nr) = Size(tile);
            int hwo = g.Hout * g.Wout, k = g.N * hwo, coutPad = CpuGemm.RoundUp(g.Cout, nr);
            int n0 = (int)((long)g.N * part / parts), n1 = (int)((long)g.N * (part + 1) / parts);
            int c0 = p0 * mr / 16, c1 = (p1 * mr + 15) / 16, channels = c1 - c0;
            int wp = BorderedWidth(g.W), plane = (g.H + 2) * wp, rowsPerBlock = Math.Max(1, KC / g.Wout);
            int maxImages = Math.Min(n1 - n0, (rowsPerBlock + g.Hout - 2) / g.Hout + 1);
            float* buf = CpuGemm.Buffer(ref _bordered, maxImages * channels * plane);
            float* dwT = (float*)pdwT + (long)part * dwtSize;
            float* local = pdyT == 0 ? CpuGemm.Buffer(ref _dyT, coutPad * rowsPerBlock * g.Wout) : null;
            for (int r0 = n0 * g.Hout, rEnd = n1 * g.Hout; r0 < rEnd; r0 += rowsPerBlock)
            {
                int rows = Math.Min(rowsPerBlock, rEnd - r0), kc = rows * g.Wout, j0 = r0 * g.Wout;
                int nA = r0 / g.Hout, nB = (r0 + rows - 1) / g.Hout + 1;
                bool first = r0 == n0 * g.Hout;
                if (local != null) PackDyT(j0, kc, local, kc);
                CopyBordered(nA, nB, c0, c1, buf);
                for (int cp = 0; cp < coutPad; cp += nr)
                {
                    float* bp = local != null ? local + (long)(cp / nr) * kc * nr : (float*)pdyT + ((long)(cp / nr) * k + j0) * nr;
                    for (int p = p0; p < p1; p++)
                    {
                        int t = p * mr, c = t / 16, u = t % 16 / 4;
                        float* a = buf + (long)(c - c0) * plane + u * wp;
                        MicroBordered(tile, a, (long)channels * plane, wp, g.Hout, g.Wout, r0 - nA * g.Hout, rows, bp,
                            dwT + (long)t * coutPad + cp, coutPad, first);
                    }
                }
            }
        }

        /// <summary>
        /// x[n, c] for images [nA, nB) and channels [c0, c1) into dst[(n − nA)·(c1 − c0) + c − c0] as (H + 2) rows of
        /// <see cref="BorderedWidth"/> floats: row i + 1 = (+0, x row i, +0, +0 …), rows 0 and H + 1 all +0 (the conv's
        /// padding). Each row is written with whole aligned vectors, each the previous and current 16 floats of the x row
        /// shifted by one lane. Why: written as a +0, a 16-float copy and a +0 at unaligned offsets, this copy took 6×
        /// longer in some processes than in others (57 against 320–470 µs of thread time per call at the VAE's 16→32
        /// stage), which made the whole weight gradient 1.5× slower there.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void CopyBordered(int nA, int nB, int c0, int c1, float* dst)
        {
            int h = g.H, w = g.W, wp = BorderedWidth(w), hw = h * w, chunks = (w + Lanes - 1) / Lanes, whole = w / Lanes;
            // Lane 0 from the previous 16 floats' last lane, lanes 1..15 from the current 16's first fifteen.
            var shift = Vector512.Create(15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30);
            float* tail = stackalloc float[Lanes];
            float* x = (float*)px;
            for (int n = nA; n < nB; n++)
                for (int c = c0; c < c1; c++)
                {
                    float* src = x + ((long)n * g.Cin + c) * hw;
                    for (int j = 0; j < wp; j += Lanes) Vector512.Store(Vector512<float>.Zero, dst + j);
                    float* d = dst + wp;
                    for (int i = 0; i < h; i++, d += wp, src += w)
                    {
                        var prev = Vector512<float>.Zero;
                        for (int j = 0; j < wp / Lanes; j++)
                        {
                            Vector512<float> cur;
                            if (j < whole) cur = Vector512.Load(src + j * Lanes);
                            else if (j < chunks)
                            {
                                // The row's last w mod 16 floats, zeros after (never reading past the row).
                                for (int t = 0; t < Lanes; t++) tail[t] = j * Lanes + t < w ? src[j * Lanes + t] : 0f;
                                cur = Vector512.Load(tail);
                            }
                            else cur = Vector512<float>.Zero;
                            Vector512.Store(Avx512F.PermuteVar16x32x2(prev, shift, cur), d + j * Lanes);
                            prev = cur;
                        }
                    }
                    for (int j = 0; j < wp; j += Lanes) Vector512.Store(Vector512<float>.Zero, d + j);
                    dst = d + wp;
                }
        }
    }

    private const int Lanes = 16;

    /// <summary>Floats per row of the bordered copy: W + 2 rounded up to whole vectors, so every row starts aligned.</summary>
    private static int BorderedWidth(int w) => (w + 2 + Lanes - 1) / Lanes * Lanes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Micro(Tile tile, int kc, float* a, nint lda, float* b, float* c, int ldc, bool overwrite)
    {
        switch (tile)
        {
            case Tile.Wide8x32: Micro8x32(kc, a, lda, b, c, ldc, overwrite); break;
            case Tile.Narrow16x16: Micro16x16(kc, a, lda, b, c, ldc, overwrite); break;
            default: Micro6x16(kc, a, lda, b, c, ldc, overwrite); break;
        }
    }

    /// <summary>
    /// c[r, 0..32) (=|+=) Σ_k a[r·lda + k] · b[k·32 + 0..32) for r &lt; 8: per k two loads of B, 8 broadcasts read
    /// straight from the column rows, 16 FMAs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro8x32(int kc, float* a, nint lda, float* b, float* c, int ldc, bool overwrite)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default,
            c20 = default, c21 = default, c30 = default, c31 = default,
            c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        nint l1 = lda, l2 = 2 * lda, l3 = 3 * lda;
        float* a4 = a + 4 * lda;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            Vector512<float> v;
            v = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(v, b0, c00); c01 = Vector512.FusedMultiplyAdd(v, b1, c01);
            v = Vector512.Create(a[l1]); c10 = Vector512.FusedMultiplyAdd(v, b0, c10); c11 = Vector512.FusedMultiplyAdd(v, b1, c11);
            v = Vector512.Create(a[l2]); c20 = Vector512.FusedMultiplyAdd(v, b0, c20); c21 = Vector512.FusedMultiplyAdd(v, b1, c21);
            v = Vector512.Create(a[l3]); c30 = Vector512.FusedMultiplyAdd(v, b0, c30); c31 = Vector512.FusedMultiplyAdd(v, b1, c31);
            v = Vector512.Create(a4[0]); c40 = Vector512.FusedMultiplyAdd(v, b0, c40); c41 = Vector512.FusedMultiplyAdd(v, b1, c41);
            v = Vector512.Create(a4[l1]); c50 = Vector512.FusedMultiplyAdd(v, b0, c50); c51 = Vector512.FusedMultiplyAdd(v, b1, c51);
            v = Vector512.Create(a4[l2]); c60 = Vector512.FusedMultiplyAdd(v, b0, c60); c61 = Vector512.FusedMultiplyAdd(v, b1, c61);
            v = Vector512.Create(a4[l3]); c70 = Vector512.FusedMultiplyAdd(v, b0, c70); c71 = Vector512.FusedMultiplyAdd(v, b1, c71);
            a++; a4++; b += 32;
        }
        Store(c, overwrite, c00); Store(c + 16, overwrite, c01); c += ldc;
        Store(c, overwrite, c10); Store(c + 16, overwrite, c11); c += ldc;
        Store(c, overwrite, c20); Store(c + 16, overwrite, c21); c += ldc;
        Store(c, overwrite, c30); Store(c + 16, overwrite, c31); c += ldc;
        Store(c, overwrite, c40); Store(c + 16, overwrite, c41); c += ldc;
        Store(c, overwrite, c50); Store(c + 16, overwrite, c51); c += ldc;
        Store(c, overwrite, c60); Store(c + 16, overwrite, c61); c += ldc;
        Store(c, overwrite, c70); Store(c + 16, overwrite, c71);
    }

    /// <summary>16 tap rows × 16 Cout: one load of B and 16 broadcasts per k (the Cout ≤ 16 convs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro16x16(int kc, float* a, nint lda, float* b, float* c, int ldc, bool overwrite)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default,
            c8 = default, c9 = default, c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
        nint l1 = lda, l2 = 2 * lda, l3 = 3 * lda;
        float* a4 = a + 4 * lda, a8 = a + 8 * lda, a12 = a + 12 * lda;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[l1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[l2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[l3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[0]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[l1]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[l2]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a4[l3]), b0, c7);
            c8 = Vector512.FusedMultiplyAdd(Vector512.Create(a8[0]), b0, c8);
            c9 = Vector512.FusedMultiplyAdd(Vector512.Create(a8[l1]), b0, c9);
            c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a8[l2]), b0, c10);
            c11 = Vector512.FusedMultiplyAdd(Vector512.Create(a8[l3]), b0, c11);
            c12 = Vector512.FusedMultiplyAdd(Vector512.Create(a12[0]), b0, c12);
            c13 = Vector512.FusedMultiplyAdd(Vector512.Create(a12[l1]), b0, c13);
            c14 = Vector512.FusedMultiplyAdd(Vector512.Create(a12[l2]), b0, c14);
            c15 = Vector512.FusedMultiplyAdd(Vector512.Create(a12[l3]), b0, c15);
            a++; a4++; a8++; a12++; b += 16;
        }
        Store(c, overwrite, c0); c += ldc; Store(c, overwrite, c1); c += ldc;
        Store(c, overwrite, c2); c += ldc; Store(c, overwrite, c3); c += ldc;
        Store(c, overwrite, c4); c += ldc; Store(c, overwrite, c5); c += ldc;
        Store(c, overwrite, c6); c += ldc; Store(c, overwrite, c7); c += ldc;
        Store(c, overwrite, c8); c += ldc; Store(c, overwrite, c9); c += ldc;
        Store(c, overwrite, c10); c += ldc; Store(c, overwrite, c11); c += ldc;
        Store(c, overwrite, c12); c += ldc; Store(c, overwrite, c13); c += ldc;
        Store(c, overwrite, c14); c += ldc; Store(c, overwrite, c15);
    }

    /// <summary>6 tap rows × 16 Cout with Vector256 (12 accumulators): the same FMA chain per element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro6x16(int kc, float* a, nint lda, float* b, float* c, int ldc, bool overwrite)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        nint l1 = lda, l2 = 2 * lda;
        float* a3 = a + 3 * lda;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            Vector256<float> v;
            v = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(v, b0, c00); c01 = Vector256.FusedMultiplyAdd(v, b1, c01);
            v = Vector256.Create(a[l1]); c10 = Vector256.FusedMultiplyAdd(v, b0, c10); c11 = Vector256.FusedMultiplyAdd(v, b1, c11);
            v = Vector256.Create(a[l2]); c20 = Vector256.FusedMultiplyAdd(v, b0, c20); c21 = Vector256.FusedMultiplyAdd(v, b1, c21);
            v = Vector256.Create(a3[0]); c30 = Vector256.FusedMultiplyAdd(v, b0, c30); c31 = Vector256.FusedMultiplyAdd(v, b1, c31);
            v = Vector256.Create(a3[l1]); c40 = Vector256.FusedMultiplyAdd(v, b0, c40); c41 = Vector256.FusedMultiplyAdd(v, b1, c41);
            v = Vector256.Create(a3[l2]); c50 = Vector256.FusedMultiplyAdd(v, b0, c50); c51 = Vector256.FusedMultiplyAdd(v, b1, c51);
            a++; a3++; b += 16;
        }
        Store(c, overwrite, c00, c01); c += ldc;
        Store(c, overwrite, c10, c11); c += ldc;
        Store(c, overwrite, c20, c21); c += ldc;
        Store(c, overwrite, c30, c31); c += ldc;
        Store(c, overwrite, c40, c41); c += ldc;
        Store(c, overwrite, c50, c51);
    }

    /// <summary>
    /// The bordered form of <see cref="Micro8x32"/> / <see cref="Micro16x16"/>: the same FMA chains over the same pixels,
    /// output row by output row (from output row <paramref name="oi"/> of the block's first image, images
    /// <paramref name="imageStride"/> floats apart), each tap broadcast from <paramref name="a"/>, the bordered plane
    /// at the panel's first kernel row: tap (u, v) of pixel (oi, oj) is a[(2·oi + u)·wp + 2·oj + v].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MicroBordered(Tile tile, float* a, long imageStride, int wp, int hout, int wout, int oi, int rows,
        float* b, float* c, int ldc, bool overwrite)
    {
        if (tile == Tile.Wide8x32) MicroBordered8x32(a, imageStride, wp, hout, wout, oi, rows, b, c, ldc, overwrite);
        else MicroBordered16x16(a, imageStride, wp, hout, wout, oi, rows, b, c, ldc, overwrite);
    }

    /// <summary>8 taps (kernel rows u, u + 1 × columns 0..3) × 32 Cout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroBordered8x32(float* a, long imageStride, int wp, int hout, int wout, int oi, int rows,
        float* b, float* c, int ldc, bool overwrite)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default,
            c20 = default, c21 = default, c30 = default, c31 = default,
            c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        for (int r = 0; r < rows; r++)
        {
            float* a0 = a + 2 * oi * wp, a1 = a0 + wp;
            for (int oj = 0; oj < wout; oj++)
            {
                var b0 = Vector512.Load(b);
                var b1 = Vector512.Load(b + 16);
                Vector512<float> v;
                v = Vector512.Create(a0[0]); c00 = Vector512.FusedMultiplyAdd(v, b0, c00); c01 = Vector512.FusedMultiplyAdd(v, b1, c01);
                v = Vector512.Create(a0[1]); c10 = Vector512.FusedMultiplyAdd(v, b0, c10); c11 = Vector512.FusedMultiplyAdd(v, b1, c11);
                v = Vector512.Create(a0[2]); c20 = Vector512.FusedMultiplyAdd(v, b0, c20); c21 = Vector512.FusedMultiplyAdd(v, b1, c21);
                v = Vector512.Create(a0[3]); c30 = Vector512.FusedMultiplyAdd(v, b0, c30); c31 = Vector512.FusedMultiplyAdd(v, b1, c31);
                v = Vector512.Create(a1[0]); c40 = Vector512.FusedMultiplyAdd(v, b0, c40); c41 = Vector512.FusedMultiplyAdd(v, b1, c41);
                v = Vector512.Create(a1[1]); c50 = Vector512.FusedMultiplyAdd(v, b0, c50); c51 = Vector512.FusedMultiplyAdd(v, b1, c51);
                v = Vector512.Create(a1[2]); c60 = Vector512.FusedMultiplyAdd(v, b0, c60); c61 = Vector512.FusedMultiplyAdd(v, b1, c61);
                v = Vector512.Create(a1[3]); c70 = Vector512.FusedMultiplyAdd(v, b0, c70); c71 = Vector512.FusedMultiplyAdd(v, b1, c71);
                a0 += 2; a1 += 2; b += 32;
            }
            if (++oi == hout) { oi = 0; a += imageStride; }
        }
        Store(c, overwrite, c00); Store(c + 16, overwrite, c01); c += ldc;
        Store(c, overwrite, c10); Store(c + 16, overwrite, c11); c += ldc;
        Store(c, overwrite, c20); Store(c + 16, overwrite, c21); c += ldc;
        Store(c, overwrite, c30); Store(c + 16, overwrite, c31); c += ldc;
        Store(c, overwrite, c40); Store(c + 16, overwrite, c41); c += ldc;
        Store(c, overwrite, c50); Store(c + 16, overwrite, c51); c += ldc;
        Store(c, overwrite, c60); Store(c + 16, overwrite, c61); c += ldc;
        Store(c, overwrite, c70); Store(c + 16, overwrite, c71);
    }

    /// <summary>16 taps (kernel rows u .. u + 3 × columns 0..3: one input channel) × 16 Cout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroBordered16x16(float* a, long imageStride, int wp, int hout, int wout, int oi, int rows,
        float* b, float* c, int ldc, bool overwrite)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default,
            c8 = default, c9 = default, c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
        for (int r = 0; r < rows; r++)
        {
            float* a0 = a + 2 * oi * wp, a1 = a0 + wp, a2 = a1 + wp, a3 = a2 + wp;
            for (int oj = 0; oj < wout; oj++)
            {
                var b0 = Vector512.Load(b);
                c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[0]), b0, c0);
                c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[1]), b0, c1);
                c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[2]), b0, c2);
                c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[3]), b0, c3);
                c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[0]), b0, c4);
                c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[1]), b0, c5);
                c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[2]), b0, c6);
                c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[3]), b0, c7);
                c8 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[0]), b0, c8);
                c9 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[1]), b0, c9);
                c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[2]), b0, c10);
                c11 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[3]), b0, c11);
                c12 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[0]), b0, c12);
                c13 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[1]), b0, c13);
                c14 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[2]), b0, c14);
                c15 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[3]), b0, c15);
                a0 += 2; a1 += 2; a2 += 2; a3 += 2; b += 16;
            }
            if (++oi == hout) { oi = 0; a += imageStride; }
        }
        Store(c, overwrite, c0); c += ldc; Store(c, overwrite, c1); c += ldc;
        Store(c, overwrite, c2); c += ldc; Store(c, overwrite, c3); c += ldc;
        Store(c, overwrite, c4); c += ldc; Store(c, overwrite, c5); c += ldc;
        Store(c, overwrite, c6); c += ldc; Store(c, overwrite, c7); c += ldc;
        Store(c, overwrite, c8); c += ldc; Store(c, overwrite, c9); c += ldc;
        Store(c, overwrite, c10); c += ldc; Store(c, overwrite, c11); c += ldc;
        Store(c, overwrite, c12); c += ldc; Store(c, overwrite, c13); c += ldc;
        Store(c, overwrite, c14); c += ldc; Store(c, overwrite, c15);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, bool overwrite, Vector512<float> v) =>
        Vector512.Store(overwrite ? v : v + Vector512.Load(c), c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, bool overwrite, Vector256<float> v0, Vector256<float> v1)
    {
        Vector256.Store(overwrite ? v0 : v0 + Vector256.Load(c), c);
        Vector256.Store(overwrite ? v1 : v1 + Vector256.Load(c + 8), c + 8);
    }

    /// <summary>
    /// AVX2 (ConvTaps' loads and gathers, the transposes), and HWo a multiple of 16 — of ConvTaps' pixel panel — so
    /// that a panel never straddles two images.
    /// </summary>
    public static bool Supports(in ConvGeom g) => Avx2.IsSupported && g.Ckk > 0 && g.Hout * g.Wout % 16 == 0;
}
