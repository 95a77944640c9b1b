using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NativeVq.Models;

/// <summary>
/// One conv / 1×1 conv / linear layer of the prior, its weights rearranged for per-position evaluation
/// (<see cref="PixelSnailPositions"/>): WT [Kfull, Opad] = (W·mask)ᵀ with zero-padded columns, so one im2col
/// term k is one contiguous weight row. Built from the layer's own tensors by <see cref="From"/>.
/// </summary>
internal sealed class PositionConv
{
    /// <summary>The cpu GEMM's K block (CpuGemm.KC): per-element sums are FMA chains within a block, blocks added in order.</summary>
    public const int KC = 256;

    public int Cin, O, Opad, KH, KW, PadTop, PadLeft, Kfull;
    public float[] WT = null!;
    public float[]? Bias;
    /// <summary>Tap (u, v) has a nonzero mask (masked taps are skipped: their product is ±0).</summary>
    public bool[] Tap = null!;

    /// <summary>weight [O, Cin(, KH, KW)], optional bias [O] and kernel mask [1, 1, KH, KW]; pads as in the batch conv.</summary>
    public static PositionConv From(Tensor weight, Tensor? bias, Tensor? mask, int padTop, int padLeft)
    {
        var w = weight.ToArray();
        var m = mask?.ToArray();
        int o = weight.Dim(0), cin = weight.Dim(1), kh = weight.Rank == 4 ? weight.Dim(2) : 1, kw = weight.Rank == 4 ? weight.Dim(3) : 1;
        int taps = kh * kw, kfull = cin * taps, opad = (o + 15) / 16 * 16;
        var c = new PositionConv
        {
            Cin = cin, O = o, Opad = opad, KH = kh, KW = kw, PadTop = padTop, PadLeft = padLeft, Kfull = kfull,
            WT = new float[kfull * opad], Bias = bias?.ToArray(), Tap = new bool[taps],
        };
        for (int t = 0; t < taps; t++) c.Tap[t] = m is null || m[t] != 0f;
        for (int oc = 0; oc < o; oc++)
            for (int k = 0; k < kfull; k++)
                c.WT[k * opad + oc] = m is null ? w[oc * kfull + k] : w[oc * kfull + k] * m[k % taps];   // = F.Mul(w, mask)
        return c;
    }

    /// <summary>
    /// outs[r, 0..Opad) for rows r &lt; m: the cpu GEMM's per-element sum restricted to the listed terms — an FMA chain
    /// from +0 over the terms of one KC block (k ascending), the block sums added in order to +0, then the bias (one
    /// rounding, as AddChannelBias). cols[r·colStride + i] is row r's value of term i (k = ks[i], ascending).
    /// Terms left out must be ones whose product is ±0 (padding, masked taps, one-hot zeros): skipping them cannot
    /// change a chain that starts at +0. Register blocks of 4 rows × 64 outputs, so each weight row loaded serves
    /// 4 rows (the per-position work of m restorations is one [m, K]·[K, O] product).
    /// </summary>
    public void Apply(ReadOnlySpan<int> ks, float[] cols, int colStride, int m, float[] outs, int outStride)
    {
        int n = ks.Length;
        for (int r = 0; r < m; r++) outs.AsSpan(r * outStride, Opad).Clear();
        for (int start = 0; start < n;)
        {
            int blk = ks[start] / KC, end = start + 1;
            while (end < n && ks[end] / KC == blk) end++;
            Block(ks[start..end], cols, start, colStride, m, outs, outStride);
            start = end;
        }
        if (Bias is { } bias)
            for (int r = 0; r < m; r++)
            {
                var y = outs.AsSpan(r * outStride, O);
                for (int oc = 0; oc < y.Length; oc++) y[oc] += bias[oc];
            }
    }

    /// <summary>outs[r, o] = outs[r, o] + (FMA chain over the block's terms): outs holds +0 or the earlier blocks' sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Block(ReadOnlySpan<int> ks, float[] cols, int col0, int colStride, int m, float[] outs, int outStride)
    {
        int n = ks.Length, opad = Opad;
        ref float wt = ref MemoryMarshal.GetArrayDataReference(WT);
        ref float cr = ref MemoryMarshal.GetArrayDataReference(cols);
        ref float orf = ref MemoryMarshal.GetArrayDataReference(outs);
        ref int kr = ref MemoryMarshal.GetReference(ks);
        int o = 0;
        for (; o + 64 <= opad; o += 64)
        {
            int r = 0;
            for (; r + 4 <= m; r += 4)
            {
                int b0 = r * colStride + col0, b1 = b0 + colStride, b2 = b1 + colStride, b3 = b2 + colStride;
                Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
                Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
                Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
                Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
                for (int i = 0; i < n; i++)
                {
                    nuint wo = (nuint)(Unsafe.Add(ref kr, i) * opad + o);
                    var w0 = Vector512.LoadUnsafe(ref wt, wo);
                    var w1 = Vector512.LoadUnsafe(ref wt, wo + 16);
                    var w2 = Vector512.LoadUnsafe(ref wt, wo + 32);
                    var w3 = Vector512.LoadUnsafe(ref wt, wo + 48);
                    var x = Vector512.Create(Unsafe.Add(ref cr, b0 + i));
                    a00 = Vector512.FusedMultiplyAdd(x, w0, a00); a01 = Vector512.FusedMultiplyAdd(x, w1, a01);
                    a02 = Vector512.FusedMultiplyAdd(x, w2, a02); a03 = Vector512.FusedMultiplyAdd(x, w3, a03);
                    x = Vector512.Create(Unsafe.Add(ref cr, b1 + i));
                    a10 = Vector512.FusedMultiplyAdd(x, w0, a10); a11 = Vector512.FusedMultiplyAdd(x, w1, a11);
                    a12 = Vector512.FusedMultiplyAdd(x, w2, a12); a13 = Vector512.FusedMultiplyAdd(x, w3, a13);
                    x = Vector512.Create(Unsafe.Add(ref cr, b2 + i));
                    a20 = Vector512.FusedMultiplyAdd(x, w0, a20); a21 = Vector512.FusedMultiplyAdd(x, w1, a21);
                    a22 = Vector512.FusedMultiplyAdd(x, w2, a22); a23 = Vector512.FusedMultiplyAdd(x, w3, a23);
                    x = Vector512.Create(Unsafe.Add(ref cr, b3 + i));
                    a30 = Vector512.FusedMultiplyAdd(x, w0, a30); a31 = Vector512.FusedMultiplyAdd(x, w1, a31);
                    a32 = Vector512.FusedMultiplyAdd(x, w2, a32); a33 = Vector512.FusedMultiplyAdd(x, w3, a33);
                }
                Add4(ref orf, r * outStride + o, a00, a01, a02, a03);
                Add4(ref orf, (r + 1) * outStride + o, a10, a11, a12, a13);
                Add4(ref orf, (r + 2) * outStride + o, a20, a21, a22, a23);
                Add4(ref orf, (r + 3) * outStride + o, a30, a31, a32, a33);
            }
            for (; r < m; r++)
            {
                int b0 = r * colStride + col0;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int i = 0; i < n; i++)
                {
                    nuint wo = (nuint)(Unsafe.Add(ref kr, i) * opad + o);
                    var x = Vector512.Create(Unsafe.Add(ref cr, b0 + i));
                    a0 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wt, wo), a0);
                    a1 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wt, wo + 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wt, wo + 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref wt, wo + 48), a3);
                }
                Add4(ref orf, r * outStride + o, a0, a1, a2, a3);
            }
        }
        for (; o < opad; o += 16)
            for (int r = 0; r < m; r++)
            {
                int b0 = r * colStride + col0;
                Vector512<float> a0 = default;
                for (int i = 0; i < n; i++)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref cr, b0 + i)), Vector512.LoadUnsafe(ref wt, (nuint)(Unsafe.Add(ref kr, i) * opad + o)), a0);
                ref float d = ref Unsafe.Add(ref orf, r * outStride + o);
                (Vector512.LoadUnsafe(ref d) + a0).StoreUnsafe(ref d);
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add4(ref float dst, int at, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        ref float d = ref Unsafe.Add(ref dst, at);
        (Vector512.LoadUnsafe(ref d) + a0).StoreUnsafe(ref d);
        (Vector512.LoadUnsafe(ref d, 16) + a1).StoreUnsafe(ref d, 16);
        (Vector512.LoadUnsafe(ref d, 32) + a2).StoreUnsafe(ref d, 32);
        (Vector512.LoadUnsafe(ref d, 48) + a3).StoreUnsafe(ref d, 48);
    }
}
