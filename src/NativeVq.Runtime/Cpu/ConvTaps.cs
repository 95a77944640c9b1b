using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// Where each lane of a micro-panel reads x, per tap: for panel q of an image (output pixels q·NR … q·NR+NR−1)
/// and tap (u, v), lane t reads plane offset <c>Offset[t]</c> (ih·W + iw) or is padding (mask 0).
/// A tap whose valid lanes read consecutive elements (stride 1, Wout = W) is marked contiguous: one masked
/// vector load instead of a gather; one whose lanes read every second element (stride 2, a panel inside one
/// output row) takes two vector loads and a permute. Used by the implicit-GEMM forward (ConvGemm.cs) to pack GEMM panels and by
/// the weight gradient (Conv.cs) to write im2col rows.
/// </summary>
internal sealed unsafe class ConvTaps
{
    private readonly ConvGeom _g;
    private readonly int _nr, _taps;
    private readonly int[] _offset, _mask; // [panel, tap, lane]
    private readonly int[] _base;          // [panel, tap]: first lane's offset when contiguous, else int.MinValue
    private readonly int[] _base2;         // [panel, tap]: first lane's offset when lanes are 2 apart, else int.MinValue

    private ConvTaps(ConvGeom g, int nr)
    {
        _g = g;
        _nr = nr;
        _taps = g.KH * g.KW;
        int panels = g.Hout * g.Wout / nr;
        _offset = new int[panels * _taps * nr];
        _mask = new int[panels * _taps * nr];
        _base = new int[panels * _taps];
        _base2 = new int[panels * _taps];
        for (int q = 0; q < panels; q++)
            for (int u = 0; u < g.KH; u++)
                for (int v = 0; v < g.KW; v++)
                {
                    int tap = u * g.KW + v, row = (q * _taps + tap) * nr;
                    bool contiguous = true, everySecond = true;
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
                        else
                        {
                            if (off != first + t) contiguous = false;
                            if (off != first + 2 * t) everySecond = false;
                        }
                    }
                    _base[q * _taps + tap] = contiguous ? first : int.MinValue;
                    _base2[q * _taps + tap] = everySecond ? first : int.MinValue;
                }
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(ConvGeom, int), ConvTaps> Cache = new();

    /// <summary>The table for this geometry, built once: a model repeats a handful of shapes every step.</summary>
    public static ConvTaps Build(in ConvGeom g, int nr)
    {
        var key = (g with { N = 0, Cout = 0 }, nr);
        if (Cache.TryGetValue(key, out var t)) return t;
        if (Cache.Count > 256) Cache.Clear(); // bound the memory when shapes keep changing
        return Cache.GetOrAdd(key, k => new ConvTaps(k.Item1, k.Item2));
    }

    /// <summary>
/// Writes rows pc … pc+kc−1 of col(x), restricted to the NR columns starting at global column j (one panel of
/// one image), to dst[kk·ld + t]: ld = NR packs a GEMM micro-panel, ld = row length writes an im2col matrix.
/// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Pack(float* x, int xLength, int j, int pc, int kc, float* dst, int ld)
    {
        var g = _g;
        int hw = g.H * g.W, hwo = g.Hout * g.Wout, nr = _nr;
        int img = j / hwo, q = (j - img * hwo) / nr;
        long imgBase = (long)img * g.Cin * hw;
        fixed (int* offs0 = _offset, masks0 = _mask, bases = _base, bases2 = _base2)
        {
            // (channel, tap) of row pc + kk, stepped instead of divided: an integer division per row cost as
            // much as the row's copy.
            int c = pc / _taps, tap = pc - c * _taps;
            for (int kk = 0; kk < kc; kk++, tap++)
            {
                if (tap == _taps) { tap = 0; c++; }
                long plane = imgBase + (long)c * hw;
                int slot = q * _taps + tap;
                int* offs = offs0 + slot * nr;
                int* masks = masks0 + slot * nr;
                float* d = dst + (long)kk * ld;
                int b = bases[slot];
                // Contiguous: one unaligned load per 8 lanes, padding lanes zeroed by the mask (an AND, so even
                // a NaN read from a neighbouring row becomes +0). Only when the whole run lies inside x.
                if (b != int.MinValue && plane + b >= 0 && plane + b + nr <= xLength)
                {
                    float* s = x + plane + b;
                    for (int t = 0; t < nr; t += 8)
                        Avx.Store(d + t, Avx.And(Avx.LoadVector256(s + t), Avx.LoadVector256(masks + t).AsSingle()));
                }
                else if (bases2[slot] is int b2 && b2 != int.MinValue && Avx512F.IsSupported && nr % 16 == 0
                         && plane + b2 >= 0 && plane + b2 + 2 * nr <= xLength)
                {
                    // Every second element (stride 2): two loads, the even lanes of both picked by one permute,
                    // padding lanes zeroed by the mask as above. Same values as the gather, so the same bits.
                    float* s = x + plane + b2;
                    var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                    for (int t = 0; t < nr; t += 16)
                    {
                        var v = Avx512F.PermuteVar16x32x2(Vector512.Load(s + 2 * t), even, Vector512.Load(s + 2 * t + 16));
                        Vector512.Store(v & Vector512.Load(masks + t).AsSingle(), d + t);
                    }
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
