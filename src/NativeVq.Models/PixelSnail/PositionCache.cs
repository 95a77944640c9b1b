using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
        var cols = s.Cols;
        ref float c0 = ref MemoryMarshal.GetArrayDataReference(cols);
        ref float src0 = ref MemoryMarshal.GetArrayDataReference(cache);
        for (int r = 0; r < s.M; r++)
        {
            ref float dst = ref Unsafe.Add(ref c0, r * n);
            ref float lane = ref Unsafe.Add(ref src0, s.Rows[r] * lanePer);
            for (int ci = 0; ci < cin; ci++)
                for (int t = 0; t < taps; t++)
                    Unsafe.Add(ref dst, ci * taps + t) = Unsafe.Add(ref lane, tapOff[t] + ci);
        }
        cv.Apply(ks.AsSpan(0, n), cols, n, s.M, outs, s.Wide);
    }
}
