namespace NativeVq;

public static partial class F
{
    /// <summary>
    /// Zero padding of the two spatial dims of x [N,C,H,W] (torch <c>F.pad(x, (left, right, top, bottom))</c>):
    /// y is [N,C,H+top+bottom,W+left+right]. Negative amounts crop, as in torch.
    /// </summary>
    public static Tensor Pad2d(Tensor x, int left, int right, int top, int bottom)
    {
        ShapeUtil.RequireRank(x, 4, "pad2d", "x");
        return Translate(x, "pad2d", x.Dim(2) + top + bottom, x.Dim(3) + left + right, top, left);
    }

    /// <summary>The window y = x[:, :, top:top+height, left:left+width] (torch narrow on dims 2 and 3).</summary>
    public static Tensor Crop(Tensor x, int top, int left, int height, int width)
    {
        ShapeUtil.RequireRank(x, 4, "crop", "x");
        if (top < 0 || left < 0 || height < 0 || width < 0 || top + height > x.Dim(2) || left + width > x.Dim(3))
            throw new ArgumentOutOfRangeException(nameof(top), $"crop: window ({top},{left}) {height}x{width} outside {ShapeUtil.Format(x.Shape)}");
        return Translate(x, "crop", height, width, -top, -left);
    }

    /// <summary>
    /// PixelSNAIL <c>down_shift</c>: a zero row on top, the last row dropped (same size). Output row i is input
    /// row i−1, so a feature at row i only sees rows above it.
    /// </summary>
    public static Tensor DownShift(Tensor x)
    {
        ShapeUtil.RequireRank(x, 4, "down_shift", "x");
        return Translate(x, "down_shift", x.Dim(2), x.Dim(3), 1, 0);
    }

    /// <summary>PixelSNAIL <c>right_shift</c>: a zero column on the left, the last column dropped (same size).</summary>
    public static Tensor RightShift(Tensor x)
    {
        ShapeUtil.RequireRank(x, 4, "right_shift", "x");
        return Translate(x, "right_shift", x.Dim(2), x.Dim(3), 0, 1);
    }

    /// <summary>y[n,c,i,j] = x[n,c,i−offY,j−offX] or 0; backward: the opposite translation, accumulated.</summary>
    private static Tensor Translate(Tensor x, string name, int hOut, int wOut, int offY, int offX)
    {
        if (hOut < 0 || wOut < 0) throw new ArgumentException($"{name}: output {hOut}x{wOut} of {ShapeUtil.Format(x.Shape)} is negative");
        var y = Tensor.Empty(x.Backend, x.Dim(0), x.Dim(1), hOut, wOut);
        x.Backend.Translate2d(x, y, offY, offX, accumulate: false);
        Autograd.Record(name, y, [x], g => x.Backend.Translate2d(g, x.GradOrZeros(), -offY, -offX, accumulate: true));
        return y;
    }

    /// <summary>
    /// Concatenation along dim 1 (channels) of tensors that agree in every other dim (torch.cat(xs, 1)).
    /// Each input is one channel-range copy; its gradient is the same range copied back.
    /// </summary>
    public static Tensor Concat(params Tensor[] xs)
    {
        if (xs.Length == 0) throw new ArgumentException("concat: no tensors");
        RequireSameBackend("concat", xs);
        var first = xs[0];
        if (first.Rank < 2) throw new ArgumentException($"concat: needs rank ≥ 2, got {ShapeUtil.Format(first.Shape)}");
        int total = 0;
        foreach (var t in xs)
        {
            bool ok = t.Rank == first.Rank;
            for (int d = 0; ok && d < t.Rank; d++) ok = d == 1 || t.Shape[d] == first.Shape[d];
            if (!ok) throw new ArgumentException($"concat: {ShapeUtil.Format(t.Shape)} does not match {ShapeUtil.Format(first.Shape)} outside dim 1");
            total += t.Dim(1);
        }
        var shape = (int[])first.Shape.Clone();
        shape[1] = total;
        var y = Tensor.Empty(first.Backend, shape);
        var starts = new int[xs.Length];
        for (int i = 0, c = 0; i < xs.Length; c += xs[i].Dim(1), i++)
        {
            starts[i] = c;
            first.Backend.CopyChannels(xs[i], y, 0, c, xs[i].Dim(1), accumulate: false);
        }
        var inputs = (Tensor[])xs.Clone();
        Autograd.Record("concat", y, inputs, g =>
        {
            for (int i = 0; i < inputs.Length; i++)
                if (inputs[i].RequiresGrad)
                    g.Backend.CopyChannels(g, inputs[i].GradOrZeros(), starts[i], 0, inputs[i].Dim(1), accumulate: true);
        });
        return y;
    }

    /// <summary>Channels [start, start+count) of x [N,C,...] (torch x[:, start:start+count]), as a new tensor.</summary>
    public static Tensor SliceChannels(Tensor x, int start, int count)
    {
        if (x.Rank < 2 || start < 0 || count < 0 || start + count > x.Dim(1))
            throw new ArgumentOutOfRangeException(nameof(start), $"slice_channels: [{start},{start + count}) of {ShapeUtil.Format(x.Shape)}");
        var shape = (int[])x.Shape.Clone();
        shape[1] = count;
        var y = Tensor.Empty(x.Backend, shape);
        x.Backend.CopyChannels(x, y, start, 0, count, accumulate: false);
        Autograd.Record("slice_channels", y, [x], g => x.Backend.CopyChannels(g, x.GradOrZeros(), 0, start, count, accumulate: true));
        return y;
    }
}
