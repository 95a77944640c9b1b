using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NativeVq.Models;

/// <summary>
/// One conv / 1×1 conv / linear layer of the prior, its weights rearranged for per-position evaluation
/// (<see cref="PixelSnailPositions"/>): WT = (W·mask)ᵀ [Kfull, Opad] with zero-padded columns, stored as panels of
/// 32 output columns (the last one 16 wide when Opad is an odd multiple of 16), each panel [Kfull, width]
/// contiguous: the register tile of <see cref="Apply"/> (32 outputs) then streams one panel front to back, one
/// 128-byte row per im2col term k, instead of 128 bytes every Opad floats. Built from the layer's own tensors by
/// <see cref="From"/>.
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
                c.WT[Index(k, oc, kfull, opad)] = m is null ? w[oc * kfull + k] : w[oc * kfull + k] * m[k % taps];   // = F.Mul(w, mask)
        return c;
    }

    /// <summary>Position of (term k, output o) in <see cref="WT"/>: panel o/32 starts at (o/32)·32·Kfull.</summary>
    private static int Index(int k, int o, int kfull, int opad)
    {
        int p0 = o / 32 * 32, width = Math.Min(32, opad - p0);
        return p0 * kfull + k * width + (o - p0);
    }

    /// <summary>Rows of one register tile of <see cref="Block"/>: packed operands come in tiles of this many rows.</summary>
    public const int TileRows = 8;

    /// <summary>Rows rounded up to whole tiles: the rows a packed operand and the outputs of <see cref="ApplyPacked"/> span.</summary>
    public static int PaddedRows(int m) => (m + TileRows - 1) / TileRows * TileRows;

    /// <summary>
    /// <see cref="ApplyPacked"/> on row-major operands: cols[r·colStride + i] is row r's value of term i; they are
    /// first packed into <paramref name="pack"/> (tiles of 8 rows, term-major inside a tile, padding rows zero).
    /// </summary>
    public void Apply(ReadOnlySpan<int> ks, float[] cols, int colStride, int m, float[] outs, int outStride, float[] pack)
    {
        int n = ks.Length;
        ref float a = ref MemoryMarshal.GetArrayDataReference(pack);
        ref float src = ref MemoryMarshal.GetArrayDataReference(cols);
        int padded = PaddedRows(m);
        for (int r = 0; r < padded; r++)
        {
            ref float dst = ref Unsafe.Add(ref a, r / TileRows * n * TileRows + r % TileRows);
            if (r >= m)
            {
                for (int i = 0; i < n; i++) Unsafe.Add(ref dst, i * TileRows) = 0f;
                continue;
            }
            ref float row = ref Unsafe.Add(ref src, r * colStride);
            for (int i = 0; i < n; i++) Unsafe.Add(ref dst, i * TileRows) = Unsafe.Add(ref row, i);
        }
        ApplyPacked(ks, pack, m, outs, outStride);
    }

    /// <summary>
    /// outs[r, 0..Opad) for rows r &lt; m: the cpu GEMM's per-element sum restricted to the listed terms — an FMA chain
    /// from +0 over the terms of one KC block (k ascending), the block sums added in order to +0, then the bias (one
    /// rounding, as AddChannelBias). The operand is packed: a[(r/8·n + i)·8 + r%8] is row r's value of term i
    /// (k = ks[i], ascending; n = ks.Length), rows padded to a multiple of 8 (their outputs, rows m..PaddedRows(m)
    /// of outs, are scratch). Terms left out must be ones whose product is ±0 (padding, masked taps, one-hot zeros):
    /// skipping them cannot change a chain that starts at +0. Register tiles of 8 rows × 32 outputs, so each weight
    /// row loaded serves 8 rows (the per-position work of m restorations is one [m, K]·[K, O] product); packing
    /// makes the 8 rows' values of a term adjacent (constant offsets, no per-row address arithmetic).
    /// </summary>
    public void ApplyPacked(ReadOnlySpan<int> ks, float[] a, int m, float[] outs, int outStride)
    {
        int n = ks.Length, padded = PaddedRows(m);
        for (int r = 0; r < padded; r++) outs.AsSpan(r * outStride, Opad).Clear();
        for (int start = 0; start < n;)
        {
            int blk = ks[start] / KC, end = start + 1;
            while (end < n && ks[end] / KC == blk) end++;
            Block(ks[start..end], a, start, n, padded, outs, outStride);
            start = end;
        }
        if (Bias is { } bias)
            for (int r = 0; r < m; r++)
            {
                var y = outs.AsSpan(r * outStride, O);
                for (int oc = 0; oc < y.Length; oc++) y[oc] += bias[oc];
            }
    }

    /// <summary>
    /// outs[r, o] = outs[r, o] + (FMA chain over the block's terms i0..i0+ks.Length of the packed operand a with n
    /// terms per tile): outs holds +0 or the earlier blocks' sum. Tiles of 8 rows × 32 outputs (16 accumulators): a
    /// weight row of the tile (2 vectors, from L2) serves 8 rows, whose 8 values are adjacent in a.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Block(ReadOnlySpan<int> ks, float[] a, int i0, int n, int rows, float[] outs, int outStride)
    {
        int nb = ks.Length, opad = Opad;
        ref float wt = ref MemoryMarshal.GetArrayDataReference(WT);
        ref float orf = ref MemoryMarshal.GetArrayDataReference(outs);
        ref int kr = ref MemoryMarshal.GetReference(ks);
        for (int r = 0; r < rows; r += TileRows)
        {
            ref float tile = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a), (r / TileRows * n + i0) * TileRows);
            int o = 0;
            for (; o + 32 <= opad; o += 32)
            {
                ref float wp = ref Unsafe.Add(ref wt, o * Kfull);   // this panel's [Kfull, 32] rows
                ref float x = ref tile;
                Vector512<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
                Vector512<float> a40 = default, a41 = default, a50 = default, a51 = default, a60 = default, a61 = default, a70 = default, a71 = default;
                for (int i = 0; i < nb; i++)
                {
                    ref float w = ref Unsafe.Add(ref wp, Unsafe.Add(ref kr, i) * 32);
                    var w0 = Vector512.LoadUnsafe(ref w);
                    var w1 = Vector512.LoadUnsafe(ref w, 16);
                    var x0 = Vector512.Create(x);
                    a00 = Vector512.FusedMultiplyAdd(x0, w0, a00); a01 = Vector512.FusedMultiplyAdd(x0, w1, a01);
                    var x1 = Vector512.Create(Unsafe.Add(ref x, 1));
                    a10 = Vector512.FusedMultiplyAdd(x1, w0, a10); a11 = Vector512.FusedMultiplyAdd(x1, w1, a11);
                    var x2 = Vector512.Create(Unsafe.Add(ref x, 2));
                    a20 = Vector512.FusedMultiplyAdd(x2, w0, a20); a21 = Vector512.FusedMultiplyAdd(x2, w1, a21);
                    var x3 = Vector512.Create(Unsafe.Add(ref x, 3));
                    a30 = Vector512.FusedMultiplyAdd(x3, w0, a30); a31 = Vector512.FusedMultiplyAdd(x3, w1, a31);
                    var x4 = Vector512.Create(Unsafe.Add(ref x, 4));
                    a40 = Vector512.FusedMultiplyAdd(x4, w0, a40); a41 = Vector512.FusedMultiplyAdd(x4, w1, a41);
                    var x5 = Vector512.Create(Unsafe.Add(ref x, 5));
                    a50 = Vector512.FusedMultiplyAdd(x5, w0, a50); a51 = Vector512.FusedMultiplyAdd(x5, w1, a51);
                    var x6 = Vector512.Create(Unsafe.Add(ref x, 6));
                    a60 = Vector512.FusedMultiplyAdd(x6, w0, a60); a61 = Vector512.FusedMultiplyAdd(x6, w1, a61);
                    var x7 = Vector512.Create(Unsafe.Add(ref x, 7));
                    a70 = Vector512.FusedMultiplyAdd(x7, w0, a70); a71 = Vector512.FusedMultiplyAdd(x7, w1, a71);
                    x = ref Unsafe.Add(ref x, TileRows);
                }
                ref float d = ref Unsafe.Add(ref orf, r * outStride + o);
                Add2(ref d, a00, a01);
                Add2(ref Unsafe.Add(ref d, outStride), a10, a11);
                Add2(ref Unsafe.Add(ref d, 2 * outStride), a20, a21);
                Add2(ref Unsafe.Add(ref d, 3 * outStride), a30, a31);
                Add2(ref Unsafe.Add(ref d, 4 * outStride), a40, a41);
                Add2(ref Unsafe.Add(ref d, 5 * outStride), a50, a51);
                Add2(ref Unsafe.Add(ref d, 6 * outStride), a60, a61);
                Add2(ref Unsafe.Add(ref d, 7 * outStride), a70, a71);
            }
            for (; o < opad; o += 16)
            {
                ref float wp = ref Unsafe.Add(ref wt, o * Kfull);   // the last panel, [Kfull, 16]
                ref float x = ref tile;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                for (int i = 0; i < nb; i++)
                {
                    var w0 = Vector512.LoadUnsafe(ref Unsafe.Add(ref wp, Unsafe.Add(ref kr, i) * 16));
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Create(x), w0, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 1)), w0, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 2)), w0, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 3)), w0, a3);
                    a4 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 4)), w0, a4);
                    a5 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 5)), w0, a5);
                    a6 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 6)), w0, a6);
                    a7 = Vector512.FusedMultiplyAdd(Vector512.Create(Unsafe.Add(ref x, 7)), w0, a7);
                    x = ref Unsafe.Add(ref x, TileRows);
                }
                ref float d = ref Unsafe.Add(ref orf, r * outStride + o);
                Add1(ref d, a0);
                Add1(ref Unsafe.Add(ref d, outStride), a1);
                Add1(ref Unsafe.Add(ref d, 2 * outStride), a2);
                Add1(ref Unsafe.Add(ref d, 3 * outStride), a3);
                Add1(ref Unsafe.Add(ref d, 4 * outStride), a4);
                Add1(ref Unsafe.Add(ref d, 5 * outStride), a5);
                Add1(ref Unsafe.Add(ref d, 6 * outStride), a6);
                Add1(ref Unsafe.Add(ref d, 7 * outStride), a7);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add1(ref float d, Vector512<float> a0) => (Vector512.LoadUnsafe(ref d) + a0).StoreUnsafe(ref d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add2(ref float d, Vector512<float> a0, Vector512<float> a1)
    {
        (Vector512.LoadUnsafe(ref d) + a0).StoreUnsafe(ref d);
        (Vector512.LoadUnsafe(ref d, 16) + a1).StoreUnsafe(ref d, 16);
    }
}
