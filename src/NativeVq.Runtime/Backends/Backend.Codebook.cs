namespace NativeVq;

// Vector quantisation: nearest-code search, code gather (embedding lookup) and one-hot encoding.
// Latents are NCHW [N, D, H, W]; a "position" is (n, h, w), taken in that order (hw = H·W); codes are int32 [N, H, W].
public abstract partial class Backend
{
    /// <summary>
    /// indices[n,p] = argmin_k (|z|² − 2 z·e_k + |e_k|²) over the K rows of <paramref name="codebook"/> [K, D];
    /// ties go to the lowest index (a duplicated codebook row must never win over its first copy).
    /// </summary>
    public void NearestCode(Tensor z, Tensor codebook, Tensor indices, int n, int d, int hw, int k)
    {
        double positions = (double)n * hw;
        using var _ = Profiler.Kernel(this, "nearest_code", 2.0 * positions * k * d, 4.0 * (positions * d + (double)k * d + positions), z, codebook, indices);
        NearestCodeCore(z, codebook, indices, n, d, hw, k);
    }

    /// <summary>zq[n,c,p] = codebook[indices[n,p], c] (forward: overwrites zq).</summary>
    public void GatherCodes(Tensor codebook, Tensor indices, Tensor zq, int n, int d, int hw, int k)
    {
        using var _ = Profiler.Kernel(this, "gather_codes", 0, 4.0 * (2.0 * n * d * hw + (double)n * hw), codebook, indices, zq);
        GatherCodesCore(codebook, indices, zq, n, d, hw, k);
    }

    /// <summary>dcodebook[indices[n,p], c] += dzq[n,c,p] (backward of <see cref="GatherCodes"/>: accumulates).</summary>
    public void GatherCodesBackward(Tensor dzq, Tensor indices, Tensor dcodebook, int n, int d, int hw, int k)
    {
        using var _ = Profiler.Kernel(this, "gather_codes.backward", (double)n * d * hw, 4.0 * (3.0 * n * d * hw + (double)n * hw), dzq, indices, dcodebook);
        GatherCodesBackwardCore(dzq, indices, dcodebook, n, d, hw, k);
    }

    /// <summary>
    /// y[n,c,p] = (indices[n,p] == c) for y [N, K, H, W] (overwrites y). A code outside [0, K) is an error
    /// (<see cref="ArgumentOutOfRangeException"/> naming the position), never a silent all-zero column.
    /// </summary>
    public void OneHot(Tensor indices, Tensor y, int n, int k, int hw)
    {
        using var _ = Profiler.Kernel(this, "one_hot", 0, 4.0 * ((double)n * k * hw + (double)n * hw), indices, y);
        OneHotCore(indices, y, n, k, hw);
    }

    /// <summary>
    /// counts[c] += the number of positions whose code is c — the trainers' code usage, kept on the device so that the
    /// indices are not read back every step. Float counts: exact while a count stays below 2^24 between reads.
    /// </summary>
    public void CountCodes(Tensor indices, Tensor counts, int k)
    {
        indices.RequireDType(DType.I32);
        if (counts.Numel != k) throw new ArgumentException($"count_codes: counts {ShapeUtil.Format(counts.Shape)} do not hold {k} codes");
        using var _ = Profiler.Kernel(this, "count_codes", indices.Numel, 8.0 * indices.Numel, indices, counts);
        CountCodesCore(indices, counts, k);
    }

    protected abstract void CountCodesCore(Tensor indices, Tensor counts, int k);
    /// <summary>
    /// One EMA codebook update from a batch (design.md §1.1), in place: with n_c the number of positions whose code is c
    /// and s_c the sum of their encodings, clusterSize[c] ← γ·clusterSize[c] + (1−γ)·n_c,
    /// embedSum[c] ← γ·embedSum[c] + (1−γ)·s_c, codebook[c] = embedSum[c] / Ñ_c with Ñ_c = (clusterSize[c] + ε)/(T + K·ε)·T,
    /// T = Σ clusterSize (Laplace smoothing). On the device, so a training step reads nothing back for it.
    /// <paramref name="zE"/> is [N, D, H, W], <paramref name="indices"/> the N·H·W codes, the state K and K·D.
    /// </summary>
    public void EmaCodebookUpdate(Tensor zE, Tensor indices, Tensor clusterSize, Tensor embedSum, Tensor codebook, float decay, float eps)
    {
        indices.RequireDType(DType.I32);
        if (zE.Rank != 4) throw new ArgumentException($"ema_codebook_update: z_e {ShapeUtil.Format(zE.Shape)} is not [N, D, H, W]");
        int n = zE.Dim(0), d = zE.Dim(1), hw = zE.Dim(2) * zE.Dim(3), k = clusterSize.Numel;
        if (indices.Numel != n * hw) throw new ArgumentException($"ema_codebook_update: {indices.Numel} codes for z_e {ShapeUtil.Format(zE.Shape)}");
        if (embedSum.Numel != k * d || codebook.Numel != k * d)
            throw new ArgumentException($"ema_codebook_update: embed sums {ShapeUtil.Format(embedSum.Shape)} / codebook {ShapeUtil.Format(codebook.Shape)} are not {k}×{d}");
        // The deterministic scan form: each (code, channel) scans every position's code, so the codes are read K·D times.
        double positions = (double)n * hw;
        using var _ = Profiler.Kernel(this, "ema_codebook_update", positions * d + 4.0 * k * d,
            4.0 * ((double)k * d * positions + positions * d + 5.0 * k * d), zE, indices, codebook);
        EmaCodebookUpdateCore(zE, indices, clusterSize, embedSum, codebook, n, d, hw, k, decay, eps);
    }

    protected abstract void EmaCodebookUpdateCore(Tensor zE, Tensor indices, Tensor clusterSize, Tensor embedSum, Tensor codebook,
        int n, int d, int hw, int k, float decay, float eps);
    protected abstract void NearestCodeCore(Tensor z, Tensor codebook, Tensor indices, int n, int d, int hw, int k);
    protected abstract void GatherCodesCore(Tensor codebook, Tensor indices, Tensor zq, int n, int d, int hw, int k);
    protected abstract void GatherCodesBackwardCore(Tensor dzq, Tensor indices, Tensor dcodebook, int n, int d, int hw, int k);
    protected abstract void OneHotCore(Tensor indices, Tensor y, int n, int k, int hw);

    /// <summary>The message both backends use for a code out of range.</summary>
    internal static ArgumentOutOfRangeException CodeOutOfRange(string op, int flatPosition, int code, int k, int hw)
    {
        int image = flatPosition / Math.Max(1, hw), p = flatPosition - image * Math.Max(1, hw);
        return new ArgumentOutOfRangeException("indices",
            $"{op}: code {code} at image {image}, position {p} (flat {flatPosition}) is outside [0, {k}) — wrong codebook size, or corrupt codes?");
    }
}
