using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using NativeVq.Cpu;

namespace NativeVq.Models;

/// <summary>
/// The conv inputs a masked gated res block keeps per lane for its k×k convs: ELU(x) (c1's input) and ELU(c1)
/// (c2's input), position-major, in a ring of the last <see cref="Rows"/> = k grid rows — a k×k causal conv at
/// row i reads rows i−k+1..i only, so older rows are never read again (memory O(k·W), not O(H·W), per lane).
/// Row i lives in ring slot i mod k; on the current row only columns ≤ j are read (the rest is masked), and those
/// were written at this or earlier positions of the row.
/// </summary>
internal sealed class PositionCache
{
    public readonly int Rows, W, Ch;
    public readonly float[] Conv1, Conv2;

    public PositionCache(int lanes, int rows, int w, int ch)
    {
        Rows = rows; W = w; Ch = ch;
        Conv1 = new float[lanes * rows * w * ch];
        Conv2 = new float[lanes * rows * w * ch];
    }

    /// <summary>Offset of (lane, grid row i, column j) in <see cref="Conv1"/> / <see cref="Conv2"/>.</summary>
    public int At(PositionStep s, int lane, int i, int j) => ((lane * Rows + i % Rows) * W + j) * Ch;

    /// <summary>Copies lane <paramref name="from"/>'s ring to lane <paramref name="to"/> (it then continues from the same position).</summary>
    public void CopyLane(int from, int to)
    {
        int per = Rows * W * Ch;
        Array.Copy(Conv1, from * per, Conv1, to * per, per);
        Array.Copy(Conv2, from * per, Conv2, to * per, per);
    }

    /// <summary>
    /// The masked k×k conv at output (s.I, s.J) for the active rows, reading its input from <paramref name="cache"/>:
    /// the im2col terms k = (ci·KH + u)·KW + v in ascending order, padding and masked taps left out.
    /// </summary>
    public void ConvAt(PositionStep s, PositionConv cv, float[] cache, float[] outs)
    {
        int taps = 0;
        Span<int> tapK = stackalloc int[cv.KH * cv.KW];
        Span<int> tapOff = stackalloc int[cv.KH * cv.KW];
        for (int u = 0; u < cv.KH; u++)
        {
            int ii = s.I - cv.PadTop + u;
            if ((uint)ii >= (uint)s.H) continue;
            for (int v = 0; v < cv.KW; v++)
            {
                int jj = s.J - cv.PadLeft + v;
                if ((uint)jj >= (uint)s.W || !cv.Tap[u * cv.KW + v]) continue;
                tapK[taps] = u * cv.KW + v;
                tapOff[taps++] = At(s, 0, ii, jj);
            }
        }
        int cin = cv.Cin, n = cin * taps, lanePer = Rows * W * Ch;
        var ks = s.Ks;
        for (int ci = 0; ci < cin; ci++)
            for (int t = 0; t < taps; t++) ks[ci * taps + t] = ci * cv.KH * cv.KW + tapK[t];
        // Gathered straight into the packed operand of ApplyPacked: row r's term i = ci·taps + t at (r/8·n + i)·8 + r%8.
        // Per tile and tap, 8 channels of the tile's 8 rows are one 8×8 transpose (rows past M read as zeros).
        var pack = s.Pack;
        const int T = PositionConv.TileRows;
        Span<int> rowAt = stackalloc int[T];
        int step = taps * T, vecCin = Avx.IsSupported ? cin / 8 * 8 : 0;
        for (int r0 = 0; r0 < s.M; r0 += T)
        {
            int valid = Math.Min(T, s.M - r0);
            for (int rr = 0; rr < T; rr++) rowAt[rr] = rr < valid ? s.Rows[r0 + rr] * lanePer : -1;
            ref float tile = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(pack), r0 / T * n * T);
            for (int t = 0; t < taps; t++)
            {
                ref float src = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(cache), tapOff[t]);
                ref float to = ref Unsafe.Add(ref tile, t * T);
                for (int c0 = 0; c0 < vecCin; c0 += 8)
                    Transposed8(ref src, rowAt, c0, ref Unsafe.Add(ref to, c0 * step), step);
                for (int ci = vecCin; ci < cin; ci++)
                    for (int rr = 0; rr < T; rr++)
                        Unsafe.Add(ref to, ci * step + rr) = rowAt[rr] < 0 ? 0f : Unsafe.Add(ref src, rowAt[rr] + ci);
            }
        }
        cv.ApplyPacked(ks.AsSpan(0, n), pack, s.M, outs, s.Wide);
    }

    /// <summary>
    /// dst[c·step + rr] = src[rowAt[rr] + c0 + c] for c, rr &lt; 8 (0 where rowAt[rr] &lt; 0): eight 8-float rows
    /// transposed with unpack / shuffle / lane permutes (exact copies).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transposed8(ref float src, ReadOnlySpan<int> rowAt, int c0, ref float dst, int step)
    {
        static Vector256<float> Row(ref float src, int at, int c0) => at < 0 ? Vector256<float>.Zero : Vector256.LoadUnsafe(ref src, (nuint)(at + c0));
        SimdTranspose.Store8x8(
            Row(ref src, rowAt[0], c0), Row(ref src, rowAt[1], c0), Row(ref src, rowAt[2], c0), Row(ref src, rowAt[3], c0),
            Row(ref src, rowAt[4], c0), Row(ref src, rowAt[5], c0), Row(ref src, rowAt[6], c0), Row(ref src, rowAt[7], c0),
            ref dst, step);
    }
}
