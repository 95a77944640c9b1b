namespace NativeVq;

public static partial class F
{
    /// <summary>
    /// torch <c>glu(x, dim=1)</c>: a = first half of the channels (the value), b = second half (the gate),
    /// y = a·sigmoid(b) — the output of the PixelSNAIL gated residual block.
    /// </summary>
    public static Tensor Glu(Tensor x)
    {
        if (x.Rank < 2 || x.Dim(1) % 2 != 0) throw new ArgumentException($"glu: x {ShapeUtil.Format(x.Shape)} needs an even channel count");
        var shape = (int[])x.Shape.Clone();
        shape[1] /= 2;
        var y = Tensor.Empty(x.Backend, shape);
        x.Backend.Glu(x, y);
        Autograd.Record("glu", y, [x], g => x.Backend.GluBackward(x, g, x.GradOrZeros()));
        return y;
    }

    /// <summary>
    /// Inverted dropout: each element is kept with probability 1−p and scaled by 1/(1−p), so the expectation is
    /// unchanged and evaluation needs no rescale. The mask is a pure function of (<paramref name="seed"/>, flat
    /// index) — see <see cref="DropoutHash"/> — so it is the same on every backend, is never stored (the backward
    /// recomputes it) and a run is reproducible when the caller derives seeds from a seeded counter.
    /// Identity (returns x itself) when not <paramref name="training"/> or p = 0.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, ulong seed, bool training = true)
    {
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), $"dropout: p = {p} must be in [0, 1)");
        if (!training || p == 0f) return x;
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.Dropout(x, y, p, seed, accumulate: false);
        Autograd.Record("dropout", y, [x], g => x.Backend.Dropout(g, x.GradOrZeros(), p, seed, accumulate: true));
        return y;
    }
}
