namespace NativeVq;

// Shape kernels: pure data movement, so every op of the family (pad, crop, shifts, concat, slice) and its
// backward is one of two primitives run with other offsets. Shapes come from the tensors themselves.
public abstract partial class Backend
{
    /// <summary>
    /// y[n,c,i,j] = x[n,c,i−offY,j−offX] where that index is inside x, else 0 (overwrite); with
    /// <paramref name="accumulate"/> y += that value and positions outside x are left untouched.
    /// x is [N,C,H,W], y [N,C,Hout,Wout]. Pad (positive offsets, larger y), crop (negative offsets, smaller y)
    /// and the PixelSNAIL shifts (same size, offset 1) are all this; the backward is the same call with
    /// negated offsets from dy into dx, accumulating.
    /// </summary>
    public void Translate2d(Tensor x, Tensor y, int offY, int offX, bool accumulate)
    {
        ShapeUtil.RequireRank(x, 4, "translate2d", "x");
        ShapeUtil.RequireRank(y, 4, "translate2d", "y");
        if (x.Dim(0) != y.Dim(0) || x.Dim(1) != y.Dim(1))
            throw new ArgumentException($"translate2d: x {ShapeUtil.Format(x.Shape)} and y {ShapeUtil.Format(y.Shape)} differ in N or C");
        using var _ = Profiler.Kernel(this, accumulate ? "translate2d.acc" : "translate2d",
            accumulate ? y.Numel : 0, 4.0 * (accumulate ? 3 : 2) * y.Numel, x, y);
        Translate2dCore(x, y, offY, offX, accumulate);
    }

    /// <summary>
    /// dst[n, dstStart+k, p] = src[n, srcStart+k, p] for k &lt; count (or += with <paramref name="accumulate"/>);
    /// the other channels of dst are not touched. src is [N,Csrc,...], dst [N,Cdst,...] with the same N and the
    /// same trailing (spatial) size. Concat writes each input into its channel range; slice reads one range;
    /// each backward is the transposed copy, accumulating.
    /// </summary>
    public void CopyChannels(Tensor src, Tensor dst, int srcStart, int dstStart, int count, bool accumulate)
    {
        var (n, cs, cd, hw) = ChannelGeometry(src, dst, "copy_channels");
        if (count < 0 || srcStart < 0 || dstStart < 0 || srcStart + count > cs || dstStart + count > cd)
            throw new ArgumentOutOfRangeException(nameof(count), $"copy_channels: channels [{srcStart},{srcStart + count}) of {cs} into [{dstStart},{dstStart + count}) of {cd}");
        double moved = (double)n * count * hw;
        using var _ = Profiler.Kernel(this, accumulate ? "copy_channels.acc" : "copy_channels",
            accumulate ? moved : 0, 4.0 * (accumulate ? 3 : 2) * moved, src, dst);
        CopyChannelsCore(src, dst, srcStart, dstStart, count, accumulate, n, cs, cd, hw);
    }

    /// <summary>N, C of src, C of dst and the per-channel size shared by both.</summary>
    internal static (int n, int cs, int cd, int hw) ChannelGeometry(Tensor src, Tensor dst, string op)
    {
        if (src.Rank < 2 || dst.Rank < 2 || src.Dim(0) != dst.Dim(0))
            throw new ArgumentException($"{op}: {ShapeUtil.Format(src.Shape)} and {ShapeUtil.Format(dst.Shape)} need rank ≥ 2 and one batch size");
        int n = src.Dim(0), cs = src.Dim(1), cd = dst.Dim(1);
        int hs = 1, hd = 1;
        for (int d = 2; d < src.Rank; d++) hs *= src.Shape[d];
        for (int d = 2; d < dst.Rank; d++) hd *= dst.Shape[d];
        if (hs != hd) throw new ArgumentException($"{op}: spatial sizes of {ShapeUtil.Format(src.Shape)} and {ShapeUtil.Format(dst.Shape)} differ");
        return (n, cs, cd, hs);
    }

    protected abstract void Translate2dCore(Tensor x, Tensor y, int offY, int offX, bool accumulate);
    protected abstract void CopyChannelsCore(Tensor src, Tensor dst, int srcStart, int dstStart, int count, bool accumulate, int n, int cs, int cd, int hw);
}
