using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// dx += convᵀ(dy, w) for the k4 s2 p1 conv that halves the map (H = 2·Hout, W = 2·Wout) — the down/upsampling
/// stage of every VAE and GAN here, so also the transposed conv's forward. dx pixel (2i + a, 2j + b) — phase
/// (a, b) of "superpixel" (i, j) — is Σ_o Σ_{m,n∈{0,1}} w[o, c, 3−a−2m, 3−b−2n] · dy[o, i+a−1+m, j+b−1+n]: every
/// phase reads dy at 4 of the 9 shifts (di, dj) ∈ {−1, 0, 1}², and the superpixel grid is dy's own grid.
/// <para>
/// One pass per 32-superpixel panel (it may span images when the map is 4x4): dy is packed once at all 9 shifts
/// ([64-channel K block, 9, 32], padding zeroed by masks), then for each block of 8 input channels the four phase tiles
/// (8×32, the 8×32 microkernel's FMA chains) are computed from that one packed panel and interleaved straight
/// into dx (a permute per 8 superpixels) while they are in cache. Fewer than 8 input channels (the image
/// layer, Cin = 1) take a variant whose rows are the four phases of one channel instead of 8 channels of
/// one phase, so no padded rows are computed, reading dy in place; it is used up to Cout = 32 (beyond, col2im).
/// </para>
/// <para>
/// Why: the im2col form writes and re-reads a column matrix 4× the size of dx and scatters it with strided scalar
/// adds; the per-phase implicit GEMM (ConvBackwardInputGemm.cs) packs dy four times, runs the microkernel on
/// only Cin/8 row panels per packed panel, needs panel-sized maps (HWo a multiple of 32) and adds a scratch +
/// interleave pass. Here dy is packed at 9 shifts per panel (the phase GEMMs pack 16) and each dx element is written once.
/// </para>
/// Numbers: for Cin ≥ 8 each phase sum is the per-phase implicit GEMM's, bit for bit (k = (o, m, n) ascending
/// in one FMA chain per KC = 256 block, blocks added in order, then added to dx). For Cin &lt; 8 one chain over
/// all k. Either way not the col2im form's order (that sums each tap's column separately), so against col2im
/// the results agree to float32 rounding. Deterministic: every dx element belongs to exactly one panel.
/// </summary>
internal static unsafe class CpuConvBackwardInputK4S2
{
    private const int Lanes = 32, Group = 16, Shifts = 9, Rows = 8, PanelStride = Shifts * Lanes;

    /// <summary>
    /// Output channels per K block: 4 taps each, so a block is CpuGemm.KC = 256 k — the phase GEMM's blocks, which keeps
    /// the sums bit for bit. 16-channel blocks (an 18 KB packed panel that stays in L1) measured no faster (bench conv_small).
    /// </summary>
    private const int OBlock = CpuGemm.KC / 4;

    [ThreadStatic] private static float[]? _panel, _tile;
    /// <summary>An all-lanes mask per shift, for reading an already masked packed panel.</summary>
    private static readonly int[] AllLanes = Enumerable.Repeat(-1, Shifts * Group).ToArray();

    public static bool Supports(in ConvGeom g)
        => Avx512F.IsSupported && g.KH == 4 && g.KW == 4 && g.StrideH == 2 && g.StrideW == 2 && g.PadTop == 1 && g.PadLeft == 1
           && g.H == 2 * g.Hout && g.W == 2 * g.Wout && g.Hout * g.Wout % Group == 0 && (g.Wout % 8 == 0 || g.Wout == 4)
           && g.Cin > 0 && g.Cout > 0 && (g.Cin >= Rows || g.Cout <= NarrowMaxCout);

    /// <summary>
    /// The Cin &lt; 8 variant loads 18 masked vectors per output channel for 32 FMAs; col2im's GEMM amortises its fixed
    /// scatter better as Cout grows. Measured (bench conv_small, CPU time against col2im): Cout 16 0.5–0.8, Cout 64 1.17.
    /// </summary>
    private const int NarrowMaxCout = 32;

    /// <summary>
    /// dx += convᵀ(dy, w); with <paramref name="overwrite"/> dx = 0 + convᵀ(dy, w) without reading dx (a fresh buffer: the
    /// transposed conv's output, a first input gradient) — the bits of a zero-fill then the accumulating form, "+0" included
    /// (it turns a −0 sum into +0 as the fill's zero did), one pass fewer. Every dx element is written (H = 2·Hout, W = 2·Wout).
    /// </summary>
    public static void Run(float[] dy, float[] w, float[] dx, ConvGeom g, bool overwrite = false) => Run(dy, w, dx, g, overwrite, packAll: false);

    /// <param name="packAll">Read every panel from a packed copy (the form in-place reads replaced for Cin ≥ 8; kept callable so
    /// tests and the bench can compare the two).</param>
    internal static void Run(float[] dy, float[] w, float[] dx, ConvGeom g, bool overwrite, bool packAll)
    {
        if (!Supports(g)) throw new ArgumentException($"k4 s2 p1 input gradient: unsupported geometry {g}");
        int hwo = g.Hout * g.Wout, groups = g.N * hwo / Group, panels = (groups + 1) / 2;
        bool wide = g.Cin >= Rows;
        int cbs = (g.Cin + Rows - 1) / Rows;
        int aSize = wide ? 4 * cbs * g.Cout * 4 * Rows : g.Cin * g.Cout * 16;
        var packedW = ArrayPool<float>.Shared.Rent(aSize);
        if (MasksCache.Count > 256) MasksCache.Clear(); // bound the memory when map sizes keep changing
        var masks = MasksCache.GetOrAdd((g.Hout, g.Wout), Masks);
        try
        {
            if (wide) PackWeightWide(w, g, cbs, packedW);
            else PackWeightNarrow(w, g, packedW);
            double flopsPerPanel = 2.0 * Lanes * 16 * g.Cin * g.Cout;
            int tileFloats = (wide ? cbs * Rows : g.Cin) * 4 * Lanes;
            CpuParallel.For(panels, (int)Math.Max(1, 2e6 / flopsPerPanel), (s, e) =>
            {
                float* bp = CpuGemm.Buffer(ref _panel, (wide ? Math.Min(OBlock, g.Cout) : g.Cout) * PanelStride);
                float* tile = CpuGemm.Buffer(ref _tile, tileFloats);
                int* offs = stackalloc int[Shifts];
                fixed (float* pdy = dy, pdx = dx, pa = packedW)
                fixed (int* pm = masks, all = AllLanes)
                {
                    for (int panel = s; panel < e; panel++)
                    {
                        int g0 = 2 * panel, ng = Math.Min(2, groups - g0);
                        if (wide)
                        {
                            for (int o0 = 0; o0 < g.Cout; o0 += OBlock)
                            {
                                int no = Math.Min(OBlock, g.Cout - o0);
                                var src = Source(pdy, dy.Length, pm, all, bp, g, g0, ng, o0, no, packAll, offs);
                                Wide(pa, src, tile, g, cbs, o0, no);
                            }
                            for (int cb = 0; cb < cbs; cb++)
                                WriteOut(tile + cb * 4 * Rows * Lanes, Rows * Lanes, pdx, g, cb * Rows, Math.Min(Rows, g.Cin - cb * Rows), g0, ng, overwrite);
                        }
                        else
                        {
                            Narrow(pa, Source(pdy, dy.Length, pm, all, bp, g, g0, ng, 0, g.Cout, packAll, offs), tile, g);
                            for (int c = 0; c < g.Cin; c++) WriteOut(tile + c * 4 * Lanes, Lanes, pdx, g, c, 1, g0, ng, overwrite);
                        }
                    }
                }
            });
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packedW);
        }
    }

    /// <summary>The masks of each dy map size, built once: a model repeats a handful of shapes every step.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(int Hout, int Wout), int[]> MasksCache = new();

    /// <summary>masks[q, s, t] = −1 when lane t of in-image group q (superpixel 16q + t) has its shift-s neighbour inside the map.</summary>
    private static int[] Masks((int Hout, int Wout) g)
    {
        int hwo = g.Hout * g.Wout;
        var m = new int[hwo / Group * Shifts * Group];
        for (int q = 0; q < hwo / Group; q++)
            for (int s = 0; s < Shifts; s++)
                for (int t = 0; t < Group; t++)
                {
                    int p = q * Group + t, i = p / g.Wout + s / 3 - 1, j = p % g.Wout + s % 3 - 1;
                    m[(q * Shifts + s) * Group + t] = (uint)i < (uint)g.Hout && (uint)j < (uint)g.Wout ? -1 : 0;
                }
        return m;
    }

    /// <summary>
    /// bp[o, s, 16·gi + t] = dy at shift s of superpixel t of group g0 + gi (0 outside the map or past the batch).
    /// Channel outer, shifts inner: the dy planes are 4·HWo bytes apart (1 KB on a 16x16 map), so a shift-outer
    /// order re-read every plane's rows nine times through a handful of L1 sets (measured 8x slower for Cin = 1).
    /// </summary>
    private static void Pack(float* dy, int dyLength, in ConvGeom g, int* masks, int g0, int ng, int o0, int no, float* bp)
    {
        int hwo = g.Hout * g.Wout, perImage = hwo / Group;
        int img0 = g0 / perImage, q0 = g0 - img0 * perImage, gl1 = Math.Min(g0 + 1, g0 + ng - 1);
        int img1 = gl1 / perImage, q1 = gl1 - img1 * perImage;
        long first0 = ((long)img0 * g.Cout + o0) * hwo + q0 * Group, first1 = ((long)img1 * g.Cout + o0) * hwo + q1 * Group;
        for (int o = 0; o < no; o++, first0 += hwo, first1 += hwo)
        {
            float* d = bp + o * PanelStride;
            for (int s = 0; s < Shifts; s++, d += Lanes)
            {
                int shift = (s / 3 - 1) * g.Wout + s % 3 - 1;
                Load(dy, dyLength, first0 + shift, masks + (q0 * Shifts + s) * Group, d);
                if (ng == 2) Load(dy, dyLength, first1 + shift, masks + (q1 * Shifts + s) * Group, d + Group);
                else Vector512.Store(Vector512<float>.Zero, d + Group);
            }
        }
    }

    /// <summary>
    /// d[t] = mask[t] ? dy[src + t] : 0: one load with the padding lanes zeroed by an AND (a NaN read from a
    /// neighbouring row becomes +0); lane by lane only where the run would leave the array (the batch's first and last rows).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Load(float* dy, int dyLength, long src, int* mask, float* d)
    {
        if (src >= 0 && src + Group <= dyLength) Vector512.Store(Vector512.Load(dy + src) & Vector512.Load(mask).AsSingle(), d);
        else for (int t = 0; t < Group; t++) d[t] = mask[t] != 0 ? dy[src + t] : 0f;
    }

    /// <summary>
    /// A[p, cb, o, t, r] = w[o, 8·cb + r, 3 − a − 2m, 3 − b − 2n] (phase p = 2a + b, tap t = 2m + n; 0 past Cin). A whole
    /// block of 8 channels is w's 8 rows of 16 taps: two 8×8 transposes give each tap's 8 rows, stored as one vector.
    /// Element by element this ran on the calling thread before every launch for 20–50 µs at the VAE's stages.
    /// </summary>
    private static void PackWeightWide(float[] w, in ConvGeom g, int cbs, float[] a)
    {
        int whole = Avx.IsSupported ? g.Cin / Rows : 0;
        float* taps = stackalloc float[16 * Rows];
        fixed (float* pw = w, pa = a)
            for (int o = 0; o < g.Cout; o++)
                for (int cb = 0; cb < cbs; cb++)
                {
                    if (cb < whole)
                    {
                        float* src = pw + ((long)o * g.Cin + cb * Rows) * 16;
                        CpuGemm.Transpose8x8(src, 16, taps, Rows);
                        CpuGemm.Transpose8x8(src + 8, 16, taps + 8 * Rows, Rows);
                        for (int q = 0; q < 16; q++)
                        {
                            // Kernel tap (u, v) = (3 − a − 2m, 3 − b − 2n).
                            int am = 3 - (q >> 2), bn = 3 - (q & 3);
                            int p = 2 * (am & 1) + (bn & 1), t = 2 * (am >> 1) + (bn >> 1);
                            Vector256.Store(Vector256.Load(taps + q * Rows), pa + ((((long)p * cbs + cb) * g.Cout + o) * 4 + t) * Rows);
                        }
                        continue;
                    }
                    for (int p = 0; p < 4; p++)
                        for (int t = 0; t < 4; t++)
                        {
                            int u = 3 - (p >> 1) - 2 * (t >> 1), v = 3 - (p & 1) - 2 * (t & 1);
                            float* d = pa + ((((long)p * cbs + cb) * g.Cout + o) * 4 + t) * Rows;
                            for (int r = 0; r < Rows; r++)
                            {
                                int c = cb * Rows + r;
                                d[r] = c < g.Cin ? pw[((o * g.Cin + c) * 4 + u) * 4 + v] : 0f;
                            }
                        }
                }
    }

    /// <summary>A[c, o, p, t] = w[o, c, 3 − a − 2m, 3 − b − 2n]: the 16 taps of (c, o) by phase, then tap.</summary>
    private static void PackWeightNarrow(float[] w, in ConvGeom g, float[] a)
    {
        for (int c = 0; c < g.Cin; c++)
            for (int o = 0; o < g.Cout; o++)
                for (int p = 0; p < 4; p++)
                    for (int t = 0; t < 4; t++)
                        a[((c * g.Cout + o) * 4 + p) * 4 + t] = w[((o * g.Cin + c) * 4 + 3 - (p >> 1) - 2 * (t >> 1)) * 4 + 3 - (p & 1) - 2 * (t & 1)];
    }

    /// <summary>
    /// dy of one panel (groups g0 and g0 + ng − 1) for output channels o0 … o0+no−1, as the microkernels read it: shift s
    /// of channel o at lanes B0 / B1 + o·Stride + Offs[s], padding lanes zeroed by the masks M0 / M1. Read in place (masked
    /// loads; each value feeds 1–4 phases of every channel block) when every shifted run stays inside the array;
    /// otherwise — the batch's first and last panels, or every panel with <paramref name="packAll"/> — from a copy packed
    /// into <paramref name="bp"/> at all 9 shifts, all lanes valid. Packing every panel wrote dy nine times over (≈ 4.7 MB
    /// per call at the VAE's 16→32 stage) and took about a quarter of the call. Same loads, same masks either way. A
    /// half-empty last panel reads its first group twice in place; the second half of its tile is never written out.
    /// </summary>
    private static PanelSource Source(float* dy, int dyLength, int* masks, int* allLanes, float* bp, in ConvGeom g, int g0, int ng,
        int o0, int no, bool packAll, int* offs)
    {
        int hwo = g.Hout * g.Wout, perImage = hwo / Group;
        int img0 = g0 / perImage, q0 = g0 - img0 * perImage, gl1 = g0 + ng - 1;
        int img1 = gl1 / perImage, q1 = gl1 - img1 * perImage;
        long first0 = ((long)img0 * g.Cout + o0) * hwo + q0 * Group, first1 = ((long)img1 * g.Cout + o0) * hwo + q1 * Group;
        if (!packAll && first0 - g.Wout - 1 >= 0 && first1 + (long)(no - 1) * hwo + g.Wout + 1 + Group <= dyLength)
        {
            for (int s = 0; s < Shifts; s++) offs[s] = (s / 3 - 1) * g.Wout + s % 3 - 1;
            return new PanelSource(dy + first0, dy + first1, hwo, offs, masks + q0 * Shifts * Group, masks + q1 * Shifts * Group);
        }
        Pack(dy, dyLength, g, masks, g0, ng, o0, no, bp);
        for (int s = 0; s < Shifts; s++) offs[s] = s * Lanes;
        return new PanelSource(bp, bp + Group, PanelStride, offs, allLanes, allLanes);
    }

    private readonly struct PanelSource(float* b0, float* b1, int stride, int* offs, int* m0, int* m1)
    {
        public readonly float* B0 = b0, B1 = b1;
        public readonly int Stride = stride;
        public readonly int* Offs = offs, M0 = m0, M1 = m1;
    }

    /// <summary>Cin ≥ 8: the four phase tiles of every block of 8 input channels over channels o0 … o0+no−1.</summary>
    private static void Wide(float* a, in PanelSource src, float* tile, in ConvGeom g, int cbs, int o0, int no)
    {
        int* sh = stackalloc int[4];
        for (int cb = 0; cb < cbs; cb++)
            for (int p = 0; p < 4; p++)
            {
                // Phase (a, b)'s tap (m, n) reads shift 3·(a + m) + (b + n).
                for (int t = 0; t < 4; t++) sh[t] = 3 * ((p >> 1) + (t >> 1)) + (p & 1) + (t & 1);
                float* ap = a + ((long)(p * cbs + cb) * g.Cout + o0) * 4 * Rows;
                Micro(no, ap, src.B0, src.B1, src.Stride, src.Offs, src.M0, src.M1, sh, tile + (cb * 4 + p) * Rows * Lanes, o0 > 0);
            }
    }

    /// <summary>
    /// 8 rows × 32 superpixels of one phase over channels o: per o its 4 taps read dy at the phase's shifts sh[t]
    /// (lanes b0 / b1 + offs[sh[t]], padding lanes zeroed by the masks), in the order (m, n) = (0,0), (0,1), (1,0),
    /// (1,1) — the phase GEMM's k order. Tile = acc (first K block) or tile + acc.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro(int no, float* a, float* b0, float* b1, int stride, int* offs, int* m0, int* m1, int* sh, float* tile, bool add)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default,
            c20 = default, c21 = default, c30 = default, c31 = default,
            c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        nint f0 = offs[sh[0]], f1 = offs[sh[1]], f2 = offs[sh[2]], f3 = offs[sh[3]];
        var m00 = Vector512.Load(m0 + sh[0] * Group).AsSingle(); var m10 = Vector512.Load(m1 + sh[0] * Group).AsSingle();
        var m01 = Vector512.Load(m0 + sh[1] * Group).AsSingle(); var m11 = Vector512.Load(m1 + sh[1] * Group).AsSingle();
        var m02 = Vector512.Load(m0 + sh[2] * Group).AsSingle(); var m12 = Vector512.Load(m1 + sh[2] * Group).AsSingle();
        var m03 = Vector512.Load(m0 + sh[3] * Group).AsSingle(); var m13 = Vector512.Load(m1 + sh[3] * Group).AsSingle();
        for (int o = 0; o < no; o++, b0 += stride, b1 += stride, a += 4 * Rows)
        {
            Vector512<float> x0, x1, w;
                x0 = Vector512.Load(b0 + f0) & m00; x1 = Vector512.Load(b1 + f0) & m10;
                w = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(w, x0, c00); c01 = Vector512.FusedMultiplyAdd(w, x1, c01);
                w = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(w, x0, c10); c11 = Vector512.FusedMultiplyAdd(w, x1, c11);
                w = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(w, x0, c20); c21 = Vector512.FusedMultiplyAdd(w, x1, c21);
                w = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(w, x0, c30); c31 = Vector512.FusedMultiplyAdd(w, x1, c31);
                w = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(w, x0, c40); c41 = Vector512.FusedMultiplyAdd(w, x1, c41);
                w = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(w, x0, c50); c51 = Vector512.FusedMultiplyAdd(w, x1, c51);
                w = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(w, x0, c60); c61 = Vector512.FusedMultiplyAdd(w, x1, c61);
                w = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(w, x0, c70); c71 = Vector512.FusedMultiplyAdd(w, x1, c71);
                x0 = Vector512.Load(b0 + f1) & m01; x1 = Vector512.Load(b1 + f1) & m11;
                w = Vector512.Create(a[8]); c00 = Vector512.FusedMultiplyAdd(w, x0, c00); c01 = Vector512.FusedMultiplyAdd(w, x1, c01);
                w = Vector512.Create(a[9]); c10 = Vector512.FusedMultiplyAdd(w, x0, c10); c11 = Vector512.FusedMultiplyAdd(w, x1, c11);
                w = Vector512.Create(a[10]); c20 = Vector512.FusedMultiplyAdd(w, x0, c20); c21 = Vector512.FusedMultiplyAdd(w, x1, c21);
                w = Vector512.Create(a[11]); c30 = Vector512.FusedMultiplyAdd(w, x0, c30); c31 = Vector512.FusedMultiplyAdd(w, x1, c31);
                w = Vector512.Create(a[12]); c40 = Vector512.FusedMultiplyAdd(w, x0, c40); c41 = Vector512.FusedMultiplyAdd(w, x1, c41);
                w = Vector512.Create(a[13]); c50 = Vector512.FusedMultiplyAdd(w, x0, c50); c51 = Vector512.FusedMultiplyAdd(w, x1, c51);
                w = Vector512.Create(a[14]); c60 = Vector512.FusedMultiplyAdd(w, x0, c60); c61 = Vector512.FusedMultiplyAdd(w, x1, c61);
                w = Vector512.Create(a[15]); c70 = Vector512.FusedMultiplyAdd(w, x0, c70); c71 = Vector512.FusedMultiplyAdd(w, x1, c71);
                x0 = Vector512.Load(b0 + f2) & m02; x1 = Vector512.Load(b1 + f2) & m12;
                w = Vector512.Create(a[16]); c00 = Vector512.FusedMultiplyAdd(w, x0, c00); c01 = Vector512.FusedMultiplyAdd(w, x1, c01);
                w = Vector512.Create(a[17]); c10 = Vector512.FusedMultiplyAdd(w, x0, c10); c11 = Vector512.FusedMultiplyAdd(w, x1, c11);
                w = Vector512.Create(a[18]); c20 = Vector512.FusedMultiplyAdd(w, x0, c20); c21 = Vector512.FusedMultiplyAdd(w, x1, c21);
                w = Vector512.Create(a[19]); c30 = Vector512.FusedMultiplyAdd(w, x0, c30); c31 = Vector512.FusedMultiplyAdd(w, x1, c31);
                w = Vector512.Create(a[20]); c40 = Vector512.FusedMultiplyAdd(w, x0, c40); c41 = Vector512.FusedMultiplyAdd(w, x1, c41);
                w = Vector512.Create(a[21]); c50 = Vector512.FusedMultiplyAdd(w, x0, c50); c51 = Vector512.FusedMultiplyAdd(w, x1, c51);
                w = Vector512.Create(a[22]); c60 = Vector512.FusedMultiplyAdd(w, x0, c60); c61 = Vector512.FusedMultiplyAdd(w, x1, c61);
                w = Vector512.Create(a[23]); c70 = Vector512.FusedMultiplyAdd(w, x0, c70); c71 = Vector512.FusedMultiplyAdd(w, x1, c71);
                x0 = Vector512.Load(b0 + f3) & m03; x1 = Vector512.Load(b1 + f3) & m13;
                w = Vector512.Create(a[24]); c00 = Vector512.FusedMultiplyAdd(w, x0, c00); c01 = Vector512.FusedMultiplyAdd(w, x1, c01);
                w = Vector512.Create(a[25]); c10 = Vector512.FusedMultiplyAdd(w, x0, c10); c11 = Vector512.FusedMultiplyAdd(w, x1, c11);
                w = Vector512.Create(a[26]); c20 = Vector512.FusedMultiplyAdd(w, x0, c20); c21 = Vector512.FusedMultiplyAdd(w, x1, c21);
                w = Vector512.Create(a[27]); c30 = Vector512.FusedMultiplyAdd(w, x0, c30); c31 = Vector512.FusedMultiplyAdd(w, x1, c31);
                w = Vector512.Create(a[28]); c40 = Vector512.FusedMultiplyAdd(w, x0, c40); c41 = Vector512.FusedMultiplyAdd(w, x1, c41);
                w = Vector512.Create(a[29]); c50 = Vector512.FusedMultiplyAdd(w, x0, c50); c51 = Vector512.FusedMultiplyAdd(w, x1, c51);
                w = Vector512.Create(a[30]); c60 = Vector512.FusedMultiplyAdd(w, x0, c60); c61 = Vector512.FusedMultiplyAdd(w, x1, c61);
                w = Vector512.Create(a[31]); c70 = Vector512.FusedMultiplyAdd(w, x0, c70); c71 = Vector512.FusedMultiplyAdd(w, x1, c71);
        }
        Put(tile, add, c00, c01); Put(tile + Lanes, add, c10, c11);
        Put(tile + 2 * Lanes, add, c20, c21); Put(tile + 3 * Lanes, add, c30, c31);
        Put(tile + 4 * Lanes, add, c40, c41); Put(tile + 5 * Lanes, add, c50, c51);
        Put(tile + 6 * Lanes, add, c60, c61); Put(tile + 7 * Lanes, add, c70, c71);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(float* t, bool add, Vector512<float> x0, Vector512<float> x1)
    {
        if (add)
        {
            x0 += Vector512.Load(t);
            x1 += Vector512.Load(t + 16);
        }
        Vector512.Store(x0, t);
        Vector512.Store(x1, t + 16);
    }

    /// <summary>
    /// Cin &lt; 8: tile[c, phase, 32 superpixels] for every channel c. Rows are the four phases of one channel (8
    /// accumulators), each shift loaded once per o (<see cref="Source"/>, masked) and fed to every phase that reads it,
    /// phase taps in (m, n) order, one FMA chain over all o. dy is read in place wherever it can be: at Cin = 1 each
    /// packed value would be used only 1–4 times, and writing the nine shifted copies cost 3–10× the col2im form.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Narrow(float* a, in PanelSource src, float* tile, in ConvGeom g)
    {
        float* b0 = src.B0, b1 = src.B1;
        int stride = src.Stride;
        int* offs = src.Offs, m0 = src.M0, m1 = src.M1;
        for (int c = 0; c < g.Cin; c++)
        {
            Vector512<float> p00 = default, p01 = default, p10 = default, p11 = default,
                p20 = default, p21 = default, p30 = default, p31 = default;
            float* q = a + (long)c * g.Cout * 16, s0 = b0, s1 = b1;
            for (int o = 0; o < g.Cout; o++, q += 16, s0 += stride, s1 += stride)
            {
                Vector512<float> x0, x1;
                // Shift s = 3·(a + m) + (b + n) feeds phase 2a + b at tap 2m + n: q[4·phase + tap].
                x0 = L(s0, offs, m0, 0); x1 = L(s1, offs, m1, 0);   // s0: p0 t0
                p00 = Fma(q[0], x0, p00); p01 = Fma(q[0], x1, p01);
                x0 = L(s0, offs, m0, 1); x1 = L(s1, offs, m1, 1);   // s1: p0 t1, p1 t0
                p00 = Fma(q[1], x0, p00); p01 = Fma(q[1], x1, p01);
                p10 = Fma(q[4], x0, p10); p11 = Fma(q[4], x1, p11);
                x0 = L(s0, offs, m0, 2); x1 = L(s1, offs, m1, 2);   // s2: p1 t1
                p10 = Fma(q[5], x0, p10); p11 = Fma(q[5], x1, p11);
                x0 = L(s0, offs, m0, 3); x1 = L(s1, offs, m1, 3);   // s3: p0 t2, p2 t0
                p00 = Fma(q[2], x0, p00); p01 = Fma(q[2], x1, p01);
                p20 = Fma(q[8], x0, p20); p21 = Fma(q[8], x1, p21);
                x0 = L(s0, offs, m0, 4); x1 = L(s1, offs, m1, 4);   // s4: p0 t3, p1 t2, p2 t1, p3 t0
                p00 = Fma(q[3], x0, p00); p01 = Fma(q[3], x1, p01);
                p10 = Fma(q[6], x0, p10); p11 = Fma(q[6], x1, p11);
                p20 = Fma(q[9], x0, p20); p21 = Fma(q[9], x1, p21);
                p30 = Fma(q[12], x0, p30); p31 = Fma(q[12], x1, p31);
                x0 = L(s0, offs, m0, 5); x1 = L(s1, offs, m1, 5);   // s5: p1 t3, p3 t1
                p10 = Fma(q[7], x0, p10); p11 = Fma(q[7], x1, p11);
                p30 = Fma(q[13], x0, p30); p31 = Fma(q[13], x1, p31);
                x0 = L(s0, offs, m0, 6); x1 = L(s1, offs, m1, 6);   // s6: p2 t2
                p20 = Fma(q[10], x0, p20); p21 = Fma(q[10], x1, p21);
                x0 = L(s0, offs, m0, 7); x1 = L(s1, offs, m1, 7);   // s7: p2 t3, p3 t2
                p20 = Fma(q[11], x0, p20); p21 = Fma(q[11], x1, p21);
                p30 = Fma(q[14], x0, p30); p31 = Fma(q[14], x1, p31);
                x0 = L(s0, offs, m0, 8); x1 = L(s1, offs, m1, 8);   // s8: p3 t3
                p30 = Fma(q[15], x0, p30); p31 = Fma(q[15], x1, p31);
            }
            float* t = tile + c * 4 * Lanes;
            Put(t, false, p00, p01);
            Put(t + Lanes, false, p10, p11);
            Put(t + 2 * Lanes, false, p20, p21);
            Put(t + 3 * Lanes, false, p30, p31);
        }
    }

    /// <summary>16 lanes at shift s, padding lanes zeroed by the mask (an AND: a NaN read from a neighbouring row becomes +0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> L(float* b, int* offs, int* mask, int s)
        => Vector512.Load(b + offs[s]) & Vector512.Load(mask + s * Group).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fma(float w, Vector512<float> x, Vector512<float> acc)
        => Vector512.FusedMultiplyAdd(Vector512.Create(w), x, acc);

    /// <summary>
    /// dx[c0 + r, 2i + a, 2j + b] += tile[2a + b, r, superpixel (i, j)] (overwrite: dx[…] = 0 + tile[…]): phases (a, 0) and (a, 1) interleaved by one
    /// two-source permute per 8 superpixels, which are 16 consecutive floats of dx row 2i + a (two runs of 8 on a 4-wide map).
    /// </summary>
    private static void WriteOut(float* tile, int phaseStride, float* dx, in ConvGeom g, int c0, int rows, int g0, int ng, bool overwrite)
    {
        var lo = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        var hi = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        int hwo = g.Hout * g.Wout, perImage = hwo / Group;
        for (int gi = 0; gi < ng; gi++)
        {
            int gl = g0 + gi, img = gl / perImage, p0 = (gl - img * perImage) * Group;
            for (int r = 0; r < rows; r++)
            {
                float* plane = dx + ((long)img * g.Cin + c0 + r) * g.H * g.W;
                for (int a = 0; a < 2; a++)
                {
                    var x0 = Vector512.Load(tile + 2 * a * phaseStride + r * Lanes + gi * Group);
                    var x1 = Vector512.Load(tile + (2 * a + 1) * phaseStride + r * Lanes + gi * Group);
                    AddEight(plane, g, p0, a, Avx512F.PermuteVar16x32x2(x0, lo, x1), overwrite);
                    AddEight(plane, g, p0 + 8, a, Avx512F.PermuteVar16x32x2(x0, hi, x1), overwrite);
                }
            }
        }
    }

    /// <summary>
    /// Adds the interleaved phases of superpixels p … p+7 (one row when Wout ≥ 8, two rows of 4 when Wout = 4) to dx,
    /// or (overwrite) to +0 instead of dx's old value: the same addition a zero-filled dx would see.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddEight(float* plane, in ConvGeom g, int p, int a, Vector512<float> v, bool overwrite)
    {
        int i = p / g.Wout, j = p - i * g.Wout;
        float* d = plane + (2 * i + a) * g.W + 2 * j;
        if (g.Wout >= 8)
        {
            Vector512.Store((overwrite ? Vector512<float>.Zero : Vector512.Load(d)) + v, d);
            return;
        }
        Vector256.Store((overwrite ? Vector256<float>.Zero : Vector256.Load(d)) + v.GetLower(), d);
        d += 2 * g.W;
        Vector256.Store((overwrite ? Vector256<float>.Zero : Vector256.Load(d)) + v.GetUpper(), d);
    }
}
