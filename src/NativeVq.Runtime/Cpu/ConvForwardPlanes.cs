using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// Conv forward for strided convs at small output maps (the VAE/GAN's k4 s2 convs: 16x16, 8x8 and 4x4 outputs) as an
/// implicit GEMM <c>y [Cout, N·HWo] = W · col(x)</c> whose B operand is read from "tap planes" instead of gathered.
/// <para>
/// Tap planes: for input channel c, row phase r (= u mod s) and kernel column v, plane P[c, r, v] holds
/// <c>x_padded[s·i + r, s·oj + v]</c> for i in [0, Hout + (KH−1)/s), oj in [0, Wout) — rows exactly Wout wide. Tap (u, v)
/// at output pixel p = oi·Wout + oj then reads P[c, u mod s, v][(u div s)·Wout + p]: consecutive pixels are consecutive
/// floats even across output rows, so a 32-pixel row of B is two plain vector loads. A stride-2 k4 conv needs 8 planes
/// per channel (2x the input) built with one permute per 16 floats, where <see cref="CpuConvGemm"/> packs each
/// 32-pixel B row with four 8-lane gathers when an output row is narrower than the panel (every Wout &lt; 32).
/// </para>
/// <para>
/// The 8x32 tile is two 16-pixel halves, each with its own address in B and y, so at 4x4 maps (16 pixels per image) one
/// tile spans two images and the full-width kernel runs instead of the 16x16 one. The bias and ReLU/LeakyReLU are
/// applied in registers before the last store (ELU: the shared epilogue on the 16-pixel rows just written).
/// </para>
/// <para>
/// Same numbers as <see cref="CpuConvGemm"/> and the im2col path, bit for bit: the same KC blocks of the same k order,
/// each element's products summed by the same FMA chain as <see cref="CpuGemm"/>'s microkernel (fl(acc + c) between
/// K blocks), the epilogue's operations in the same order as <see cref="CpuConvEpilogue"/>. Padding reads +0 as there.
/// </para>
/// </summary>
internal static unsafe class CpuConvPlanes
{
    private const int MR = 8, NR = 32, Half = 16;

    /// <summary>Columns of one work item, in whole images: its C block (Cout × 256) and its planes stay in L2.</summary>
    private const int TargetCols = 256;

    [ThreadStatic] private static float[]? _planes, _tile;

    /// <summary>
    /// Strided convs whose output map is at most <see cref="TargetCols"/> pixels and a multiple of 16 (each tile half in
    /// one image), on AVX-512 where the GEMM tile is 8x32. Stride 1 keeps <see cref="CpuConvGemm"/>: its "same" convs
    /// read contiguous rows already.
    /// </summary>
    public static bool Supports(in ConvGeom g)
        => Avx512F.IsSupported && Vector512.IsHardwareAccelerated && CpuGemm.MR == MR && CpuGemm.NR == NR
           && (g.StrideH > 1 || g.StrideW > 1) && g.Hout * g.Wout % Half == 0 && g.Hout * g.Wout <= TargetCols && g.Ckk > 0;

    /// <summary>y = act(conv(x, w) + bias), overwriting y.</summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeom g, float[]? bias = null, ConvEpilogue ep = default)
    {
        if (!Supports(g)) throw new ArgumentException($"tap-plane conv: unsupported geometry {g}");
        int m = g.Cout, k = g.Ckk, hwo = g.Hout * g.Wout, mPad = CpuGemm.RoundUp(m, MR);
        var layout = new PlaneLayout(g);

        // Whole images per block, about TargetCols columns, at least two blocks per thread when the batch allows; an
        // even count at 16-pixel maps so tiles pair images. Block edges depend only on the shape and the core count.
        int imgs = Math.Max(1, Math.Min(TargetCols / hwo, (g.N + 2 * CpuParallel.Threads - 1) / (2 * CpuParallel.Threads)));
        if (hwo % NR != 0) imgs = CpuGemm.RoundUp(imgs, 2);
        // Fewer images than 2·threads (batch 1 inference): each image's panels split into parts, each part building
        // the image's planes itself, so the threads still share the work.
        int parts = imgs == 1 && hwo % NR == 0 ? Math.Clamp(2 * CpuParallel.Threads / g.N, 1, hwo / NR) : 1;
        int blocks = (g.N + imgs - 1) / imgs * parts;

        var packedW = ArrayPool<float>.Shared.Rent(mPad * k + 16);
        var biasPad = bias is null ? null : ArrayPool<float>.Shared.Rent(mPad);
        if (TablesCache.Count > 256) TablesCache.Clear(); // bound the memory when shapes keep changing
        var tables = TablesCache.GetOrAdd(g with { N = 1 }, geom => new Tables(geom, new PlaneLayout(geom)));
        try
        {
            if (bias is not null)
            {
                bias.AsSpan(0, m).CopyTo(biasPad);
                biasPad.AsSpan(m, mPad - m).Clear();
            }
            fixed (float* pw = w, pa0 = packedW, px = x, py = y, pb = biasPad)
            fixed (int* po = tables.OffK)
            fixed (RowPicker* picker = &tables.Picker)
            {
                float* pa = (float*)(((nint)pa0 + 63) & ~(nint)63);
                for (int pc = 0; pc < k; pc += CpuGemm.KC)
                    CpuGemm.PackA(false, pw, k, 0, pc, m, Math.Min(CpuGemm.KC, k - pc), pa + (long)pc * mPad, MR);
                var job = new Job(g, layout, (nint)pa, (nint)px, x.Length, (nint)py, (nint)po, bias is null ? 0 : (nint)pb, mPad, imgs, parts, y, bias, ep,
                    RowPicker.Fits(g) ? (nint)picker : 0);
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
            if (biasPad is not null) ArrayPool<float>.Shared.Return(biasPad);
        }
    }

    /// <summary>
    /// What depends only on the geometry (batch size aside), built once per shape: each B row's plane offset and the row
    /// picker's permutes. Built on every call they cost 10–20 µs on the calling thread before the launch (integer
    /// divisions per tap; 7–13 µs and 3–5 µs at the VAE's stages, section timings), and the picker built once per block
    /// cost 60–75 µs of thread time per call at the 16→32 stage.
    /// </summary>
    private sealed class Tables(ConvGeom g, PlaneLayout layout)
    {
        public readonly int[] OffK = Enumerable.Range(0, g.Ckk).Select(layout.TapOffset).ToArray();
        public RowPicker Picker = RowPicker.Fits(g) ? new RowPicker(g) : default;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ConvGeom, Tables> TablesCache = new();

    /// <summary>Where tap planes live: per image, channel-major, then row phase, then kernel column; each plane Rows × Wout.</summary>
    private readonly struct PlaneLayout(ConvGeom g)
    {
        public readonly int Rows = g.Hout + (g.KH - 1) / g.StrideH;
        public int Plane => Rows * g.Wout;
        /// <summary>Floats of one channel's planes (StrideH · KW of them).</summary>
        public int Channel => g.StrideH * g.KW * Plane;

        /// <summary>Offset of B row k = (c·KH + u)·KW + v (the im2col row order) for output pixel 0 of an image.</summary>
        public int TapOffset(int k)
        {
            int v = k % g.KW, t = k / g.KW, u = t % g.KH, c = t / g.KH;
            return c * Channel + ((u % g.StrideH) * g.KW + v) * Plane + u / g.StrideH * g.Wout;
        }
    }

    private readonly struct Job(ConvGeom g, PlaneLayout layout, nint pa, nint px, int xLength, nint py, nint po, nint pbias, int mPad, int imgs, int parts,
        float[] yArray, float[]? bias, ConvEpilogue ep, nint pPicker)
    {
        public void Run(int block)
        {
            int m = g.Cout, k = g.Ckk, hwo = g.Hout * g.Wout, taps = g.KH * g.KW;
            int part = block % parts, n0 = block / parts * imgs, nimg = Math.Min(g.N, n0 + imgs) - n0, cols = nimg * hwo;
            // Part p of an image's parts: its panels [p·P/parts, (p+1)·P/parts) of P = cols / NR (all when parts = 1).
            int panels = cols / NR, jFirst = part * panels / parts * NR, jEnd = parts == 1 ? cols : (part + 1) * panels / parts * NR;
            float* a = (float*)pa, y = (float*)py, biasRows = (float*)pbias;
            int* offK = (int*)po;
            int maxChannels = Math.Min(g.Cin, (CpuGemm.KC + taps - 1) / taps + 1);
            float* planes = CpuGemm.Buffer(ref _planes, nimg * maxChannels * layout.Channel);
            float* tile = CpuGemm.Buffer(ref _tile, MR * NR);
            // One padded input row: left padding, the row, then zeros far enough for the last vector load.
            int rowLen = g.PadLeft + g.W + g.StrideW * CpuGemm.RoundUp(g.Wout, Half) + g.KW + 2 * Half;
            float* row = stackalloc float[rowLen];
            new Span<float>(row, rowLen).Clear();
            int act = ep.Activation switch { ConvActivation.Relu => 1, ConvActivation.LeakyRelu => 2, _ => 0 };
            bool fused = ep.Activation != ConvActivation.Elu;
            bool eluAfter = ep.Activation == ConvActivation.Elu;

            for (int pc = 0; pc < k; pc += CpuGemm.KC)
            {
                int kc = Math.Min(CpuGemm.KC, k - pc);
                int c0 = pc / taps, c1 = (pc + kc - 1) / taps + 1, chunk = (c1 - c0) * layout.Channel;
                for (int i = 0; i < nimg; i++) BuildPlanes(g, layout, (float*)px, (float*)px + xLength, n0 + i, c0, c1, planes + (long)i * chunk, row, (RowPicker*)pPicker);
                // B row k of image i sits at bBase + i·chunk + offK[k] (offK counts from channel 0; this chunk starts at c0).
                float* bBase = planes - (long)c0 * layout.Channel;
                bool acc = pc > 0, last = pc + kc >= k;
                int* offs = offK + pc;
                for (int jp = jFirst; jp < jEnd; jp += NR)
                {
                    bool full = jp + Half < cols;
                    int i0 = jp / hwo, p0 = jp - i0 * hwo, j1 = full ? jp + Half : jp, i1 = j1 / hwo, p1 = j1 - i1 * hwo;
                    float* b = bBase + (long)i0 * chunk + p0;
                    nint d1 = (nint)((long)i1 * chunk + p1 - ((long)i0 * chunk + p0));
                    float* y0 = y + (long)(n0 + i0) * m * hwo + p0, y1 = y + (long)(n0 + i1) * m * hwo + p1;
                    for (int ir = 0; ir < m; ir += MR)
                    {
                        int rows = Math.Min(MR, m - ir);
                        float* ap = a + (long)pc * mPad + (long)ir * kc;
                        float* br = last && fused && pbias != 0 ? biasRows + ir : null;
                        int epi = last && fused ? act : -1;
                        if (rows == MR && full)
                        {
                            Tile(kc, ap, b, offs, d1, y0 + (long)ir * hwo, y1 + (long)ir * hwo, hwo, acc, epi, br, ep.Slope);
                            continue;
                        }
                        // Edge rows (Cout not a multiple of 8) or a lone 16-pixel half: the same kernel on a scratch tile.
                        if (acc)
                            for (int r = 0; r < rows; r++)
                            {
                                Copy16(y0 + (long)(ir + r) * hwo, tile + r * NR);
                                if (full) Copy16(y1 + (long)(ir + r) * hwo, tile + r * NR + Half);
                            }
                        Tile(kc, ap, b, offs, d1, tile, tile + Half, NR, acc, epi, br, ep.Slope);
                        for (int r = 0; r < rows; r++)
                        {
                            Copy16(tile + r * NR, y0 + (long)(ir + r) * hwo);
                            if (full) Copy16(tile + r * NR + Half, y1 + (long)(ir + r) * hwo);
                        }
                    }
                    if (last && eluAfter)
                    {
                        CpuConvEpilogue.ApplyImage(yArray, n0 + i0, m, hwo, p0, Half, bias, ep);
                        if (full) CpuConvEpilogue.ApplyImage(yArray, n0 + i1, m, hwo, p1, Half, bias, ep);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy16(float* src, float* dst) => Vector512.Store(Vector512.Load(src), dst);

    /// <summary>
    /// Tap planes of channels [c0, c1) of image n, at dst (channel c's planes at (c − c0)·Channel). With a
    /// <see cref="RowPicker"/> each input row is loaded once into registers and every kernel column's plane row is one
    /// permute and a mask (padding lanes +0); otherwise the row is copied into <paramref name="row"/> (its padding stays
    /// zero) and each plane row picked from there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void BuildPlanes(in ConvGeom g, in PlaneLayout layout, float* x, float* xEnd, int n, int c0, int c1, float* dst,
        float* row, RowPicker* picker)
    {
        int sh = g.StrideH, sw = g.StrideW, wout = g.Wout, plane = layout.Plane, hw = g.H * g.W, kw = g.KW;
        float* rowIn = row + g.PadLeft;
        for (int c = c0; c < c1; c++)
        {
            float* xc = x + ((long)n * g.Cin + c) * hw;
            float* dc = dst + (long)(c - c0) * layout.Channel;
            for (int rp = 0; rp < sh; rp++)
            {
                float* dr = dc + (long)rp * kw * plane;
                for (int i = 0; i < layout.Rows; i++)
                {
                    int ih = sh * i + rp - g.PadTop;
                    float* d = dr + i * wout;
                    if ((uint)ih >= (uint)g.H)
                    {
                        for (int v = 0; v < kw; v++) Zero(d + (long)v * plane, wout);
                        continue;
                    }
                    float* src = xc + (long)ih * g.W;
                    if (picker != null && picker->Pairs && i + 1 < layout.Rows && ih + sh < g.H && src + (long)sh * g.W + Half <= xEnd)
                    {
                        picker->PickPair(src, src + (long)sh * g.W, d, plane);
                        i++; // plane rows i and i + 1 done
                        continue;
                    }
                    if (picker != null && src + 2 * Half <= xEnd)
                    {
                        picker->Pick(src, d, plane);
                        continue;
                    }
                    int q = 0;
                    for (; q <= g.W - Half; q += Half) Vector512.Store(Vector512.Load(src + q), rowIn + q);
                    for (; q < g.W; q++) rowIn[q] = src[q];
                    for (int v = 0; v < kw; v++) PickEvery(row + v, sw, wout, d + (long)v * plane);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Zero(float* d, int count)
    {
        int q = 0;
        for (; q <= count - Half; q += Half) Vector512.Store(Vector512<float>.Zero, d + q);
        for (; q < count; q++) d[q] = 0f;
    }

    /// <summary>
    /// Plane rows of one input row held in two registers (W ≤ 32 floats, stride ≤ 2, Wout 4, 8 or 16, KW ≤ 8): for kernel
    /// column v, lane oj takes element s·oj + v − PadLeft of the row (a permute), zeroed where that is padding (a mask).
    /// Why: copying the row to a padded buffer and reading it back at offsets 0..KW−1 stalled on store forwarding and
    /// made building the planes cost as much as the FMAs at 4x4 maps.
    /// </summary>
    private struct RowPicker
    {
        private const int MaxKw = 8;
        private fixed int _index[MaxKw * Half];
        private fixed int _mask[MaxKw * Half];
        private fixed int _pairIndex[MaxKw * Half];
        private fixed int _pairMask[MaxKw * Half];
        private int _kw, _wout;
        private bool _two;

        /// <summary>
        /// Wout 4 or 8 with rows of at most 16 floats: two plane rows (input rows s apart) per permute, so each store
        /// writes 8 or 16 floats instead of 4 or 8.
        /// </summary>
        public bool Pairs;

        public static bool Fits(in ConvGeom g)
            => g.W <= 2 * Half && g.StrideW <= 2 && g.KW <= MaxKw && g.Wout is 4 or 8 or 16;

        public RowPicker(in ConvGeom g)
        {
            _kw = g.KW;
            _wout = g.Wout;
            _two = g.W > Half;
            for (int v = 0; v < g.KW; v++)
                for (int oj = 0; oj < Half; oj++)
                {
                    int q = g.StrideW * oj + v - g.PadLeft;
                    bool valid = oj < g.Wout && q >= 0 && q < g.W;
                    _index[v * Half + oj] = valid ? q : 0;
                    _mask[v * Half + oj] = valid ? -1 : 0;
                }
            Pairs = g.W <= Half && g.Wout <= 8;
            for (int v = 0; v < g.KW && Pairs; v++)
                for (int lane = 0; lane < Half; lane++)
                {
                    // Lanes [0, Wout): the first row (register lo); [Wout, 2·Wout): the second (hi, indices 16 + q).
                    int oj = lane % g.Wout, second = lane / g.Wout, q = g.StrideW * oj + v - g.PadLeft;
                    bool valid = second < 2 && q >= 0 && q < g.W;
                    _pairIndex[v * Half + lane] = valid ? q + second * Half : 0;
                    _pairMask[v * Half + lane] = valid ? -1 : 0;
                }
        }

        /// <summary>Plane rows i (from input row a) and i + 1 (from b) of each kernel column, stored together (2·Wout floats).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void PickPair(float* a, float* b, float* dst, int plane)
        {
            var lo = Vector512.Load(a);
            var hi = Vector512.Load(b);
            fixed (int* index = _pairIndex, mask = _pairMask)
                for (int v = 0; v < _kw; v++)
                {
                    var r = Avx512F.PermuteVar16x32x2(lo, Vector512.Load(index + v * Half), hi) & Vector512.Load(mask + v * Half).AsSingle();
                    float* d = dst + (long)v * plane;
                    if (_wout == 8) Vector512.Store(r, d);
                    else Vector256.Store(r.GetLower(), d);
                }
        }

        /// <summary>dst + v·plane ← plane row of kernel column v, for each v. Reads 32 floats from src (the caller checks the end of x).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Pick(float* src, float* dst, int plane)
        {
            var lo = Vector512.Load(src);
            var hi = _two ? Vector512.Load(src + Half) : lo;
            fixed (int* index = _index, mask = _mask)
                for (int v = 0; v < _kw; v++)
                {
                    var idx = Vector512.Load(index + v * Half);
                    var r = (_two ? Avx512F.PermuteVar16x32x2(lo, idx, hi) : Avx512F.PermuteVar16x32(lo, idx))
                            & Vector512.Load(mask + v * Half).AsSingle();
                    float* d = dst + (long)v * plane;
                    if (_wout == Half) Vector512.Store(r, d);
                    else if (_wout == 8) Vector256.Store(r.GetLower(), d);
                    else Vector128.Store(r.GetLower().GetLower(), d);
                }
        }
    }

    /// <summary>dst[oj] = src[s·oj] for oj in [0, count).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PickEvery(float* src, int s, int count, float* dst)
    {
        int oj = 0;
        if (s <= 2)
        {
            var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            for (; oj < count; oj += Half)
            {
                var v = s == 2
                    ? Avx512F.PermuteVar16x32x2(Vector512.Load(src + 2 * oj), even, Vector512.Load(src + 2 * oj + Half))
                    : Vector512.Load(src + oj);
                int left = count - oj;
                if (left >= Half) Vector512.Store(v, dst + oj);
                else if (left == 8) Vector256.Store(v.GetLower(), dst + oj);
                else if (left == 4) Vector128.Store(v.GetLower().GetLower(), dst + oj);
                else break;
            }
            if (oj >= count) return;
        }
        for (; oj < count; oj++) dst[oj] = src[s * oj];
    }

    /// <summary>
    /// One 8x32 tile: rows of A (packed, 8 per k) times B row k read at b + offs[k] (pixels 0-15) and b + offs[k] + d1
    /// (pixels 16-31); the tile's halves are stored at c0 and c1 (row r at + r·ldc). acc: c = fl(acc + c), as the GEMM
    /// microkernel's accumulate store. epi ≥ 0: then bias (when given) and activation 0 none, 1 ReLU, 2 LeakyReLU.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(int kc, float* a, float* b, int* offs, nint d1, float* c0, float* c1, int ldc, bool acc, int epi, float* bias, float slope)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default,
            c20 = default, c21 = default, c30 = default, c31 = default,
            c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        for (int k = 0; k < kc; k++)
        {
            float* bk = b + offs[k];
            var b0 = Vector512.Load(bk);
            var b1 = Vector512.Load(bk + d1);
            Vector512<float> x;
            x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            a += 8;
        }
        var s = Vector512.Create(slope);
        Put(c0, c1, 0, ldc, c00, c01, acc, epi, bias, s);
        Put(c0, c1, 1, ldc, c10, c11, acc, epi, bias, s);
        Put(c0, c1, 2, ldc, c20, c21, acc, epi, bias, s);
        Put(c0, c1, 3, ldc, c30, c31, acc, epi, bias, s);
        Put(c0, c1, 4, ldc, c40, c41, acc, epi, bias, s);
        Put(c0, c1, 5, ldc, c50, c51, acc, epi, bias, s);
        Put(c0, c1, 6, ldc, c60, c61, acc, epi, bias, s);
        Put(c0, c1, 7, ldc, c70, c71, acc, epi, bias, s);
    }

    /// <summary>
    /// Row r of a tile: fl(v + c) when accumulating (the GEMM's fma(1, v, c)), then the epilogue exactly as
    /// <see cref="CpuConvEpilogue"/>'s vector loop does it: fl(v + bias), then ReLU's max or LeakyReLU's select.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(float* c0, float* c1, int r, int ldc, Vector512<float> v0, Vector512<float> v1, bool acc, int epi, float* bias, Vector512<float> slope)
    {
        float* p0 = c0 + (long)r * ldc, p1 = c1 + (long)r * ldc;
        if (acc)
        {
            v0 = Vector512.FusedMultiplyAdd(Vector512<float>.One, v0, Vector512.Load(p0));
            v1 = Vector512.FusedMultiplyAdd(Vector512<float>.One, v1, Vector512.Load(p1));
        }
        if (epi >= 0)
        {
            if (bias != null)
            {
                var bv = Vector512.Create(bias[r]);
                v0 += bv;
                v1 += bv;
            }
            if (epi == 1)
            {
                v0 = Vector512.Max(v0, Vector512<float>.Zero);
                v1 = Vector512.Max(v1, Vector512<float>.Zero);
            }
            else if (epi == 2)
            {
                v0 = Vector512.ConditionalSelect(Vector512.GreaterThan(v0, Vector512<float>.Zero), v0, v0 * slope);
                v1 = Vector512.ConditionalSelect(Vector512.GreaterThan(v1, Vector512<float>.Zero), v1, v1 * slope);
            }
        }
        Vector512.Store(v0, p0);
        Vector512.Store(v1, p1);
    }
}
