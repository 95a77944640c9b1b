using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// Writes im2col rows one output row at a time: for tap t and output row (n, oi) the Wout values
/// x[n, c, oi·s − pt + u, oj·s − pl + v] (0 in the padding). Stride 2 takes one vector load per 8 outputs and a
/// permute picking the even lanes, the padding lanes zeroed by a mask (an AND, so even a NaN read from a neighbouring
/// row becomes +0); other strides and widths copy element by element. Pure data movement: the values are x's own bits.
/// <para>
/// Why not <see cref="ConvTaps"/>: its panels are NR pixels wide, so at 8x8 and 4x4 outputs a panel spans several
/// output rows and every stride-2 tap fell back to an 8-lane gather — most of the weight gradient's packing time.
/// Within one output row the lanes are always evenly spaced.
/// </para>
/// </summary>
internal static unsafe class ConvColumnRows
{
    /// <summary>
    /// dst[(t − t0)·ld + (r − r0)·Wout + oj] = col(x)[t, row r, oj] for taps t0 ≤ t &lt; t0 + taps and global output rows
    /// r0 ≤ r &lt; r0 + rows (row r = image r / Hout, output row r % Hout).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Pack(float* x, int xLength, in ConvGeom g, int t0, int taps, int r0, int rows, float* dst, int ld)
    {
        if (IsK4S2P1(g) && t0 % 4 == 0 && taps % 4 == 0)
        {
            PackK4S2P1(x, g, t0, taps, r0, rows, dst, ld);
            return;
        }
        int wo = g.Wout, kk = g.KH * g.KW, hw = g.H * g.W, s = g.StrideW, rowStep = g.StrideH * g.W;
        int* mask = stackalloc int[CpuGemm.RoundUp(wo, 8)];
        for (int t = t0; t < t0 + taps; t++)
        {
            int c = t / kk, tap = t - c * kk, u = tap / g.KW, v = tap - u * g.KW;
            int jlo = CpuConv.FirstValid(g.PadLeft, v, s), jhi = CpuConv.EndValid(g.W, g.PadLeft, v, s, wo);
            int lo = CpuConv.FirstValid(g.PadTop, u, g.StrideH), hi = jlo < jhi ? CpuConv.EndValid(g.H, g.PadTop, u, g.StrideH, g.Hout) : 0;
            for (int j = 0; j < wo; j++) mask[j] = j >= jlo && j < jhi ? -1 : 0;
            float* d = dst + (long)(t - t0) * ld;
            // One image's run of output rows at a time: rows outside [lo, hi) read only padding.
            for (int r = r0, rEnd = r0 + rows; r < rEnd;)
            {
                int n = r / g.Hout, oiA = r - n * g.Hout, oiB = Math.Min(g.Hout, oiA + rEnd - r);
                int a = Math.Clamp(lo, oiA, oiB), e = Math.Clamp(hi, a, oiB);
                Zero(d, (a - oiA) * wo);
                long b = ((long)n * g.Cin + c) * hw + (long)(a * g.StrideH - g.PadTop + u) * g.W - g.PadLeft + v;
                Rows(x, xLength, b, rowStep, e - a, s, wo, mask, d + (a - oiA) * wo);
                Zero(d + (e - oiA) * wo, (oiB - e) * wo);
                d += (oiB - oiA) * wo;
                r += oiB - oiA;
            }
        }
    }

    /// <summary>
    /// The VAE/GAN down-sampling convs (k4 s2 p1 along the width, W = 2·Wout with Wout 4, 8 or 16): the four taps
    /// v of one (channel, tap row u) read the same input row — at its odd columns shifted right by one (v = 0, lane 0
    /// padding), even (v = 1), odd (v = 2) and even shifted left (v = 3, the last lane padding) — so one load of the
    /// row and two-source permutes against zero write all four, instead of a load, permute and mask per tap.
    /// </summary>
    private static bool IsK4S2P1(in ConvGeom g) =>
        Avx512F.IsSupported && g.KW == 4 && g.StrideW == 2 && g.PadLeft == 1 && g.W == 2 * g.Wout
        && (g.Wout == 4 || g.Wout == 8 || g.Wout == 16);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackK4S2P1(float* x, in ConvGeom g, int t0, int taps, int r0, int rows, float* dst, int ld)
    {
        int wo = g.Wout, kk = g.KH * 4, hw = g.H * g.W, w = g.W;
        var zero = Vector512<float>.Zero;
        // Lane indices into (row, zero): 16 + i picks zero.
        var i01 = Vector512.Create(16, 1, 3, 5, 7, 9, 11, 13, 0, 2, 4, 6, 8, 10, 12, 14);
        var i23 = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 2, 4, 6, 8, 10, 12, 14, 16);
        var i4 = Vector512.Create(16, 1, 3, 5, 0, 2, 4, 6, 1, 3, 5, 7, 2, 4, 6, 16);
        // Wout 16: lanes of (lo, hi) = the 32-wide row; the padding lanes are masked afterwards.
        var i0 = Vector512.Create(0, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29);
        var i1 = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var i2 = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        var i3 = Vector512.Create(2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 0);
        var notFirst = Vector512.Create(0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1).AsSingle();
        var notLast = Vector512.Create(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0).AsSingle();
        int n0 = r0 / g.Hout, oi0 = r0 - n0 * g.Hout;
        for (int t = t0; t < t0 + taps; t += 4)
        {
            int c = t / kk, u = (t - c * kk) / 4;
            float* d0 = dst + (long)(t - t0) * ld, d1 = d0 + ld, d2 = d1 + ld, d3 = d2 + ld;
            for (int r = 0, n = n0, oi = oi0; r < rows; r++, d0 += wo, d1 += wo, d2 += wo, d3 += wo)
            {
                int ih = oi * g.StrideH - g.PadTop + u;
                float* xr = x + ((long)n * g.Cin + c) * hw + (long)ih * w;
                if (++oi == g.Hout) { oi = 0; n++; }
                if ((uint)ih >= (uint)g.H)
                {
                    Zero(d0, wo); Zero(d1, wo); Zero(d2, wo); Zero(d3, wo);
                    continue;
                }
                if (wo == 8)
                {
                    var row = Vector512.Load(xr);
                    var a = Avx512F.PermuteVar16x32x2(row, i01, zero);
                    var b = Avx512F.PermuteVar16x32x2(row, i23, zero);
                    a.GetLower().Store(d0); a.GetUpper().Store(d1); b.GetLower().Store(d2); b.GetUpper().Store(d3);
                }
                else if (wo == 4)
                {
                    var a = Avx512F.PermuteVar16x32x2(Vector256.Load(xr).ToVector512Unsafe(), i4, zero);
                    var lo = a.GetLower();
                    var hi = a.GetUpper();
                    lo.GetLower().Store(d0); lo.GetUpper().Store(d1); hi.GetLower().Store(d2); hi.GetUpper().Store(d3);
                }
                else
                {
                    var lo = Vector512.Load(xr);
                    var hi = Vector512.Load(xr + 16);
                    (Avx512F.PermuteVar16x32x2(lo, i0, hi) & notFirst).Store(d0);
                    Avx512F.PermuteVar16x32x2(lo, i1, hi).Store(d1);
                    Avx512F.PermuteVar16x32x2(lo, i2, hi).Store(d2);
                    (Avx512F.PermuteVar16x32x2(lo, i3, hi) & notLast).Store(d3);
                }
            }
        }
    }

    private static void Zero(float* d, int count)
    {
        if (count > 0) new Span<float>(d, count).Clear();
    }

    /// <summary>
    /// d[i·wo + oj] = x[b + i·rowStep + s·oj] where mask[oj], else 0, for i &lt; count (b, the x index of row i's
    /// oj = 0, may lie outside the row; rows whose vector load would leave x take the scalar loop).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Rows(float* x, int xLength, long b, int rowStep, int count, int s, int wo, int* mask, float* d)
    {
        int span = s * wo; // elements a row's vector loads cover
        if (s == 2 && wo == 8 && Avx512F.IsSupported)
        {
            var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
            var m = Vector256.Load(mask).AsSingle();
            for (int i = 0; i < count; i++, b += rowStep, d += 8)
            {
                if (b < 0 || b + 16 > xLength) { Scalar(x, b, s, wo, mask, d); continue; }
                Vector256.Store(Avx512F.PermuteVar16x32(Vector512.Load(x + b), even).GetLower() & m, d);
            }
        }
        else if (s == 2 && wo == 4 && Avx2.IsSupported)
        {
            var even = Vector256.Create(0, 2, 4, 6, 0, 0, 0, 0);
            var m = Vector128.Load(mask).AsSingle();
            for (int i = 0; i < count; i++, b += rowStep, d += 4)
            {
                if (b < 0 || b + 8 > xLength) { Scalar(x, b, s, wo, mask, d); continue; }
                Vector128.Store(Avx2.PermuteVar8x32(Vector256.Load(x + b), even).GetLower() & m, d);
            }
        }
        else if (s == 2 && wo % 8 == 0 && Avx512F.IsSupported)
        {
            var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 0, 0, 0, 0, 0, 0, 0, 0);
            for (int i = 0; i < count; i++, b += rowStep, d += wo)
            {
                if (b < 0 || b + span > xLength) { Scalar(x, b, s, wo, mask, d); continue; }
                for (int q = 0; q < wo; q += 8)
                    Vector256.Store(Avx512F.PermuteVar16x32(Vector512.Load(x + b + 2 * q), even).GetLower() & Vector256.Load(mask + q).AsSingle(), d + q);
            }
        }
        else
        {
            for (int i = 0; i < count; i++, b += rowStep, d += wo) Scalar(x, b, s, wo, mask, d);
        }
    }

    private static void Scalar(float* x, long b, int s, int wo, int* mask, float* d)
    {
        for (int j = 0; j < wo; j++) d[j] = mask[j] != 0 ? x[b + (long)s * j] : 0f;
    }
}
