namespace NativeVq;

public static partial class F
{
    /// <summary>Σ of all elements, as a one-element tensor of shape [].</summary>
    public static Tensor Sum(Tensor x)
    {
        var y = Tensor.Empty(x.Backend, Array.Empty<int>());
        x.Backend.SumAll(x, y);
        Autograd.Record("sum", y, [x], g => x.Backend.AddScalar(g, 1f, x.GradOrZeros()));
        return y;
    }

    /// <summary>Mean of all elements, shape [].</summary>
    public static Tensor Mean(Tensor x)
    {
        var y = Tensor.Empty(x.Backend, Array.Empty<int>());
        x.Backend.SumAll(x, y);
        float inv = 1f / Math.Max(1, x.Numel);
        x.Backend.Axpby(y, y, inv, 0f);
        Autograd.Record("mean", y, [x], g => x.Backend.AddScalar(g, inv, x.GradOrZeros()));
        return y;
    }

    /// <summary>y = x + bias[c] broadcast over [N, C, ...] (channel dimension 1).</summary>
    public static Tensor AddChannelBias(Tensor x, Tensor bias)
    {
        if (x.Rank < 2 || bias.Rank != 1 || bias.Dim(0) != x.Dim(1))
            throw new ArgumentException($"add_channel_bias: bias {ShapeUtil.Format(bias.Shape)} does not match channels of {ShapeUtil.Format(x.Shape)}");
        int n = x.Dim(0), c = x.Dim(1), hw = x.Numel / Math.Max(1, n * c);
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.Axpby(x, y, 1f, 0f);
        x.Backend.AddChannelBias(bias, y, n, c, hw);
        Autograd.Record("add_channel_bias", y, [x, bias], g =>
        {
            Accumulate(x, g);
            if (bias.RequiresGrad) x.Backend.ChannelSum(g, bias.GradOrZeros(), n, c, hw);
        });
        return y;
    }
}
