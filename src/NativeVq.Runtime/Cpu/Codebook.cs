using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace NativeVq.Cpu;

/// <summary>
/// Vector-quantisation kernels on spans (CPU twins of kernels/NativeVq.Kernels/CodebookKernels.cs).
/// Latents are NCHW [N, D, H, W], so for a fixed channel the positions of one image are contiguous: the
/// nearest-code search vectorises over positions (one SIMD lane per position) and broadcasts codebook
/// scalars, with no transpose of z beyond packing a small tile.
/// </summary>
public static unsafe class CpuCodebook
{
    /// <summary>Codes handled per pass over a tile (register blocking: 2 position vectors × 4 codes = 8 accumulators).</summary>
    private const int CodeBlock = 4;

    /// <summary>
    /// indices[n·hw + p] = argmin_k (|z|² − 2 z·e_k) + |e_k|², ties to the lowest k. Each dot product sums over
    /// the D channels in order with fused multiply-adds, so equal codebook rows give bitwise equal distances and
    /// the strict "&lt;" keeps the first. Tiles of 2·Vector&lt;float&gt;.Count positions run in parallel (fixed chunks).
    /// </summary>
    public static void NearestCode(ReadOnlySpan<float> z, ReadOnlySpan<float> codebook, Span<int> indices, int n, int d, int hw, int k)
    {
        if (z.Length < n * d * hw || codebook.Length < k * d || indices.Length < n * hw)
            throw new ArgumentException("nearest_code: buffer sizes do not match the shape");
        if (n * hw == 0) return;
        if (k <= 0) throw new ArgumentException("nearest_code: empty codebook");

        var ee = new float[k];
        for (int c = 0; c < k; c++)
        {
            float s = 0f;
            for (int j = 0; j < d; j++) s = MathF.FusedMultiplyAdd(codebook[c * d + j], codebook[c * d + j], s);
            ee[c] = s;
        }

        int w = Vector<float>.Count, tp = 2 * w;
        int tilesPerImage = (hw + tp - 1) / tp, tiles = n * tilesPerImage;
        int grain = Math.Max(1, 65536 / Math.Max(1, k * d));
        fixed (float* zp0 = z, ep0 = codebook, eep0 = ee)
        fixed (int* ip0 = indices)
        {
            float* zp = zp0, ep = ep0, eep = eep0;
            int* ip = ip0;
            CpuParallel.For(tiles, grain, (s, e) =>
            {
                var pack = ArrayPool<float>.Shared.Rent(d * tp);
                try
                {
                    fixed (float* pk = pack)
                        for (int t = s; t < e; t++) Tile(zp, ep, eep, ip, pk, t / tilesPerImage, (t % tilesPerImage) * tp, d, hw, k);
                }
                finally { ArrayPool<float>.Shared.Return(pack); }
            });
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(float* z, float* e, float* ee, int* indices, float* pk, int img, int p0, int d, int hw, int k)
    {
        int w = Vector<float>.Count, tp = 2 * w, cnt = Math.Min(tp, hw - p0);
        // Pack the tile [d, tp] (zero-padded past the image's last position) and accumulate |z|² per lane.
        var zz0 = Vector<float>.Zero; var zz1 = Vector<float>.Zero;
        float* zi = z + (long)img * d * hw + p0;
        for (int c = 0; c < d; c++)
        {
            float* dst = pk + c * tp, src = zi + (long)c * hw;
            if (cnt == tp) new Span<float>(src, tp).CopyTo(new Span<float>(dst, tp));
            else
            {
                new Span<float>(src, cnt).CopyTo(new Span<float>(dst, cnt));
                new Span<float>(dst + cnt, tp - cnt).Clear();
            }
            var v0 = Unsafe.ReadUnaligned<Vector<float>>(dst);
            var v1 = Unsafe.ReadUnaligned<Vector<float>>(dst + w);
            zz0 = Vector.FusedMultiplyAdd(v0, v0, zz0);
            zz1 = Vector.FusedMultiplyAdd(v1, v1, zz1);
        }

        var best0 = new Vector<float>(float.PositiveInfinity); var best1 = best0;
        var bi0 = Vector<int>.Zero; var bi1 = Vector<int>.Zero;
        int code = 0;
        for (; code + CodeBlock <= k; code += CodeBlock)
        {
            float* e0 = e + (long)code * d, e1 = e0 + d, e2 = e1 + d, e3 = e2 + d;
            Vector<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
            for (int c = 0; c < d; c++)
            {
                var v0 = Unsafe.ReadUnaligned<Vector<float>>(pk + c * tp);
                var v1 = Unsafe.ReadUnaligned<Vector<float>>(pk + c * tp + w);
                var b0 = new Vector<float>(e0[c]); var b1 = new Vector<float>(e1[c]);
                var b2 = new Vector<float>(e2[c]); var b3 = new Vector<float>(e3[c]);
                a00 = Vector.FusedMultiplyAdd(v0, b0, a00); a01 = Vector.FusedMultiplyAdd(v1, b0, a01);
                a10 = Vector.FusedMultiplyAdd(v0, b1, a10); a11 = Vector.FusedMultiplyAdd(v1, b1, a11);
                a20 = Vector.FusedMultiplyAdd(v0, b2, a20); a21 = Vector.FusedMultiplyAdd(v1, b2, a21);
                a30 = Vector.FusedMultiplyAdd(v0, b3, a30); a31 = Vector.FusedMultiplyAdd(v1, b3, a31);
            }
            Update(zz0, zz1, a00, a01, ee[code], code, ref best0, ref best1, ref bi0, ref bi1);
            Update(zz0, zz1, a10, a11, ee[code + 1], code + 1, ref best0, ref best1, ref bi0, ref bi1);
            Update(zz0, zz1, a20, a21, ee[code + 2], code + 2, ref best0, ref best1, ref bi0, ref bi1);
            Update(zz0, zz1, a30, a31, ee[code + 3], code + 3, ref best0, ref best1, ref bi0, ref bi1);
        }
        for (; code < k; code++)
        {
            float* e0 = e + (long)code * d;
            Vector<float> a00 = default, a01 = default;
            for (int c = 0; c < d; c++)
            {
                var b0 = new Vector<float>(e0[c]);
                a00 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(pk + c * tp), b0, a00);
                a01 = Vector.FusedMultiplyAdd(Unsafe.ReadUnaligned<Vector<float>>(pk + c * tp + w), b0, a01);
            }
            Update(zz0, zz1, a00, a01, ee[code], code, ref best0, ref best1, ref bi0, ref bi1);
        }

        int* dst0 = indices + (long)img * hw + p0;
        for (int l = 0; l < cnt; l++) dst0[l] = l < w ? bi0[l] : bi1[l - w];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(Vector<float> zz0, Vector<float> zz1, Vector<float> dot0, Vector<float> dot1, float ee, int code,
        ref Vector<float> best0, ref Vector<float> best1, ref Vector<int> bi0, ref Vector<int> bi1)
    {
        var eev = new Vector<float>(ee);
        var two = new Vector<float>(2f);
        var d0 = (zz0 - two * dot0) + eev;
        var d1 = (zz1 - two * dot1) + eev;
        var m0 = Vector.LessThan(d0, best0);
        var m1 = Vector.LessThan(d1, best1);
        var cv = new Vector<int>(code);
        best0 = Vector.ConditionalSelect(m0, d0, best0);
        best1 = Vector.ConditionalSelect(m1, d1, best1);
        bi0 = Vector.ConditionalSelect(m0, cv, bi0);
        bi1 = Vector.ConditionalSelect(m1, cv, bi1);
    }

    /// <summary>counts[c] += #{i : indices[i] = c}, after checking every code is in [0, k).</summary>
    public static void CountCodes(ReadOnlySpan<int> indices, Span<float> counts, int k)
    {
        CheckCodes(indices, k, indices.Length, "count_codes");
        foreach (int c in indices) counts[c] += 1f;
    }

    /// <summary>
    /// The EMA codebook update (Backend.EmaCodebookUpdate). Serial, with double accumulators and the float/double mix
    /// of the former host-side VectorQuantizer.UpdateEma, so cpu training stays bit-identical to runs made before it.
    /// </summary>
    public static void EmaCodebookUpdate(ReadOnlySpan<float> z, ReadOnlySpan<int> indices, Span<float> size, Span<float> embed, Span<float> book,
        int n, int d, int hw, int k, float decay, float eps)
    {
        CheckCodes(indices.Slice(0, n * hw), k, hw, "ema_codebook_update");
        var counts = new double[k];
        var sums = new double[k * d];
        for (int p = 0; p < n * hw; p++)
        {
            int c = indices[p], img = p / hw, pos = p % hw;
            counts[c]++;
            for (int j = 0; j < d; j++) sums[c * d + j] += z[(img * d + j) * hw + pos];
        }
        double total = 0;
        for (int c = 0; c < k; c++)
        {
            size[c] = (float)(decay * size[c] + (1 - decay) * counts[c]);
            total += size[c];
            for (int j = 0; j < d; j++) embed[c * d + j] = (float)(decay * embed[c * d + j] + (1 - decay) * sums[c * d + j]);
        }
        for (int c = 0; c < k; c++)
        {
            double smoothed = (size[c] + eps) / (total + k * eps) * total;
            for (int j = 0; j < d; j++) book[c * d + j] = (float)(embed[c * d + j] / smoothed);
        }
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> at the first code outside [0, k).</summary>
    public static void CheckCodes(ReadOnlySpan<int> indices, int k, int hw, string op)
    {
        for (int i = 0; i < indices.Length; i++)
            if ((uint)indices[i] >= (uint)k) throw Backend.CodeOutOfRange(op, i, indices[i], k, hw);
    }

    /// <summary>zq[n,c,p] = codebook[indices[n,p], c]; parallel over the n·d output rows.</summary>
    public static void Gather(ReadOnlySpan<float> codebook, ReadOnlySpan<int> indices, Span<float> zq, int n, int d, int hw, int k)
    {
        CheckCodes(indices.Slice(0, n * hw), k, hw, "gather_codes");
        fixed (float* cp0 = codebook, yp0 = zq)
        fixed (int* ip0 = indices)
        {
            float* cp = cp0, yp = yp0;
            int* ip = ip0;
            CpuParallel.For(n * d, Math.Max(1, 16384 / Math.Max(1, hw)), (s, e) =>
            {
                for (int r = s; r < e; r++)
                {
                    int img = r / d, c = r - img * d;
                    int* ir = ip + (long)img * hw;
                    float* yr = yp + (long)r * hw;
                    for (int p = 0; p < hw; p++) yr[p] = cp[(long)ir[p] * d + c];
                }
            });
        }
    }

    /// <summary>
    /// dcodebook[indices[n,p], c] += dzq[n,c,p]. Deterministic without atomics: each channel c is owned by one
    /// worker, which visits the positions in order, so every code row sums its positions in (n, h, w) order.
    /// </summary>
    public static void GatherBackward(ReadOnlySpan<float> dzq, ReadOnlySpan<int> indices, Span<float> dcodebook, int n, int d, int hw, int k)
    {
        CheckCodes(indices.Slice(0, n * hw), k, hw, "gather_codes.backward");
        fixed (float* gp0 = dzq, dp0 = dcodebook)
        fixed (int* ip0 = indices)
        {
            float* gp = gp0, dp = dp0;
            int* ip = ip0;
            CpuParallel.For(d, Math.Max(1, 65536 / Math.Max(1, n * hw)), (s, e) =>
            {
                for (int c = s; c < e; c++)
                    for (int img = 0; img < n; img++)
                    {
                        int* ir = ip + (long)img * hw;
                        float* gr = gp + ((long)img * d + c) * hw;
                        for (int p = 0; p < hw; p++) dp[(long)ir[p] * d + c] += gr[p];
                    }
            });
        }
    }

    /// <summary>y[n,c,p] = (indices[n,p] == c) for y [N, K, H, W]; codes outside [0, k) throw.</summary>
    public static void OneHot(ReadOnlySpan<int> indices, Span<float> y, int n, int k, int hw)
    {
        CheckCodes(indices.Slice(0, n * hw), k, hw, "one_hot");
        y.Slice(0, n * k * hw).Clear();
        for (int img = 0; img < n; img++)
            for (int p = 0; p < hw; p++)
                y[(img * k + indices[img * hw + p]) * hw + p] = 1f;
    }
}

public sealed partial class CpuBackend
{
    protected override void NearestCodeCore(Tensor z, Tensor codebook, Tensor indices, int n, int d, int hw, int k)
        => CpuCodebook.NearestCode(F(z), F(codebook), I(indices), n, d, hw, k);

    protected override void CountCodesCore(Tensor indices, Tensor counts, int k)
        => CpuCodebook.CountCodes(I(indices), F(counts), k);

    protected override void EmaCodebookUpdateCore(Tensor zE, Tensor indices, Tensor clusterSize, Tensor embedSum, Tensor codebook,
        int n, int d, int hw, int k, float decay, float eps)
        => CpuCodebook.EmaCodebookUpdate(F(zE), I(indices), F(clusterSize), F(embedSum), F(codebook), n, d, hw, k, decay, eps);

    protected override void GatherCodesCore(Tensor codebook, Tensor indices, Tensor zq, int n, int d, int hw, int k)
        => CpuCodebook.Gather(F(codebook), I(indices), F(zq), n, d, hw, k);

    protected override void GatherCodesBackwardCore(Tensor dzq, Tensor indices, Tensor dcodebook, int n, int d, int hw, int k)
        => CpuCodebook.GatherBackward(F(dzq), I(indices), F(dcodebook), n, d, hw, k);

    protected override void OneHotCore(Tensor indices, Tensor y, int n, int k, int hw)
        => CpuCodebook.OneHot(I(indices), F(y), n, k, hw);
}
