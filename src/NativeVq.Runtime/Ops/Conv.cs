namespace NativeVq;

public static partial class F
{
    /// <summary>
    /// torch.nn.functional.conv2d (cross-correlation, groups 1, dilation 1): x [N,Cin,H,W], w [Cout,Cin,KH,KW],
    /// optional bias [Cout]; the same stride and zero padding on every side.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? bias = null, int stride = 1, int padding = 0)
        => Conv2d(x, w, bias, stride, stride, padding, padding, padding, padding);

    /// <summary>
    /// Conv with F.pad-style asymmetric zero padding <c>(left, right, top, bottom)</c> — the order of
    /// <c>F.pad(x, (l, r, t, b))</c> — fused into the conv instead of materialising a padded copy.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, int stride, (int Left, int Right, int Top, int Bottom) pad)
        => Conv2d(x, w, bias, stride, stride, pad.Top, pad.Bottom, pad.Left, pad.Right);

    /// <summary>
    /// act(conv2d(x, w) + bias): the conv, its bias and an activation in one op — the bias and activation applied in
    /// the conv's store (<see cref="ConvEpilogue"/>), and in backward the activation's derivative applied to dy once
    /// (from the output, so the pre-activation is never kept) with the bias gradient summed in the same pass. Equals
    /// F.Relu/F.LeakyRelu/F.Elu(F.Conv2d(x, w, bias, …)) bit for bit, forward and gradients.
    /// </summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, int stride, int padding, ConvEpilogue epilogue)
        => Conv2d(x, w, bias, stride, stride, padding, padding, padding, padding, epilogue);

    /// <summary>The general form: per-dimension stride and per-side padding (and optionally an epilogue activation).</summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, int strideH, int strideW,
        int padTop, int padBottom, int padLeft, int padRight, ConvEpilogue epilogue = default)
    {
        RequireSameBackend("conv2d", x, w, bias);
        ShapeUtil.RequireRank(x, 4, "conv2d", "input");
        ShapeUtil.RequireRank(w, 4, "conv2d", "weight");
        if (w.Dim(1) != x.Dim(1))
            throw new ArgumentException($"conv2d: weight {ShapeUtil.Format(w.Shape)} expects {w.Dim(1)} input channels, input {ShapeUtil.Format(x.Shape)} has {x.Dim(1)}");
        if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != w.Dim(0)))
            throw new ArgumentException($"conv2d: bias {ShapeUtil.Format(bias.Shape)} does not match {w.Dim(0)} output channels");
        var g = ConvGeom.Create(x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3), w.Dim(0), w.Dim(2), w.Dim(3),
            strideH, strideW, padTop, padBottom, padLeft, padRight);
        var be = x.Backend;
        var y = Tensor.Empty(be, g.N, g.Cout, g.Hout, g.Wout);
        be.Conv2dForward(x, w, bias, y, g, epilogue);
        Autograd.Record(ConvNames[epilogue.Code], y, [x, w, bias], dy =>
        {
            var dz = EpilogueBackward(y, dy, bias, epilogue, g.N, g.Cout, g.Hout * g.Wout);
            // A first gradient is written into a fresh buffer (no zero-fill where the backend can overwrite).
            if (x.RequiresGrad)
            {
                if (x.Grad is null) be.Conv2dBackwardInputInto(dz, w, x.NewGrad(), g);
                else be.Conv2dBackwardInput(dz, w, x.Grad, g);
            }
            if (w.RequiresGrad) be.Conv2dBackwardWeight(x, dz, w.GradOrZeros(), g);
        });
        return y;
    }

    // Graph node names by ConvEpilogue.Code (fixed strings: a step allocates nothing per op).
    private static readonly string[] ConvNames = ["conv2d", "conv2d+relu", "conv2d+leaky_relu", "conv2d+elu"];
    private static readonly string[] ConvTransposeNames = ["conv_transpose2d", "conv_transpose2d+relu", "conv_transpose2d+leaky_relu", "conv_transpose2d+elu"];

    /// <summary>
    /// The gradient at the conv's output before the epilogue, dz = act'·dy, with the bias gradient added on the way
    /// (one pass over dy); without an activation dz is dy and the bias gradient a ChannelSum, as before.
    /// </summary>
    private static Tensor EpilogueBackward(Tensor y, Tensor dy, Tensor? bias, ConvEpilogue epilogue, int n, int c, int hw)
    {
        var be = y.Backend;
        var db = bias is not null && bias.RequiresGrad ? bias.GradOrZeros() : null;
        if (epilogue.Activation == ConvActivation.None)
        {
            if (db is not null) be.ChannelSum(dy, db, n, c, hw);
            return dy;
        }
        // dy dies after this backward (unless it is the root's): the derivative overwrites it in place (elementwise,
        // so the same values) instead of streaming into a third buffer.
        var dz = Autograd.GradIsDying(y) ? dy : Tensor.Empty(be, y.Shape);
        be.ActivationBackward(y, dy, dz, db, n, c, hw, epilogue);
        return dz;
    }

    /// <summary>
    /// torch.nn.functional.conv_transpose2d (output_padding 0, groups 1): x [N,Cin,H,W], w [Cin,Cout,KH,KW]
    /// (input channels FIRST), output [N,Cout,(H−1)s−2p+KH,(W−1)s−2p+KW]. Implemented as the adjoint of a
    /// conv2d whose input is this op's output: that conv has weight [Cout_conv = Cin, Cin_conv = Cout], i.e.
    /// exactly w's layout, so forward = conv backward-input, input-backward = conv forward, weight-backward =
    /// conv backward-weight with x and dy swapped. Padding crops the full (H−1)s+k result.
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor w, Tensor? bias = null, int stride = 1, int padding = 0)
        => ConvTranspose2d(x, w, bias, stride, padding, ConvEpilogue.None);

    /// <summary>
    /// act(conv_transpose2d(x, w) + bias) as one op: the bias and activation in one in-place pass after the transposed
    /// conv (its phases interleave into the output, so there is no single store to put them in), the backward as in
    /// the fused <see cref="Conv2d(Tensor, Tensor, Tensor?, int, int, ConvEpilogue)"/>. Equals the unfused composition bit for bit.
    /// </summary>
    public static Tensor ConvTranspose2d(Tensor x, Tensor w, Tensor? bias, int stride, int padding, ConvEpilogue epilogue)
    {
        RequireSameBackend("conv_transpose2d", x, w, bias);
        ShapeUtil.RequireRank(x, 4, "conv_transpose2d", "input");
        ShapeUtil.RequireRank(w, 4, "conv_transpose2d", "weight");
        if (w.Dim(0) != x.Dim(1))
            throw new ArgumentException($"conv_transpose2d: weight {ShapeUtil.Format(w.Shape)} expects {w.Dim(0)} input channels (layout [Cin,Cout,kH,kW]), input {ShapeUtil.Format(x.Shape)} has {x.Dim(1)}");
        int n = x.Dim(0), cin = x.Dim(1), h = x.Dim(2), wd = x.Dim(3), cout = w.Dim(1), kh = w.Dim(2), kw = w.Dim(3);
        if (bias is not null && (bias.Rank != 1 || bias.Dim(0) != cout))
            throw new ArgumentException($"conv_transpose2d: bias {ShapeUtil.Format(bias.Shape)} does not match {cout} output channels");
        if (stride < 1 || padding < 0) throw new ArgumentException("conv_transpose2d: stride must be ≥ 1 and padding ≥ 0");
        int hout = (h - 1) * stride - 2 * padding + kh, wout = (wd - 1) * stride - 2 * padding + kw;
        if (hout < 1 || wout < 1) throw new ArgumentException($"conv_transpose2d: padding {padding} crops the whole output");
        // The conv this op is the adjoint of: input = our output, output = our input (floor((Hout+2p−k)/s)+1 = H).
        var g = new ConvGeom(n, cout, hout, wout, cin, kh, kw, stride, stride, padding, padding, h, wd);
        var be = x.Backend;
        var y = Tensor.Empty(be, n, cout, hout, wout);
        if (epilogue.Activation != ConvActivation.None)
        {
            be.Conv2dBackwardInputInto(x, w, y, g);
            be.BiasActivation(y, bias, n, cout, hout * wout, epilogue);
        }
        else be.ConvTranspose2dForward(x, w, bias, y, g); // on cuda a bias alone goes into the per-phase kernel's store
        Autograd.Record(ConvTransposeNames[epilogue.Code], y, [x, w, bias], dy =>
        {
            var dz = EpilogueBackward(y, dy, bias, epilogue, n, cout, hout * wout);
            if (x.RequiresGrad)
            {
                // A first gradient is the conv's output itself, written into the fresh buffer: the conv's sums start
                // from +0 and so never end at −0, which makes it the bits of GradCopy's 0 + dx without the copy pass.
                if (x.Grad is null) be.Conv2dForward(dz, w, null, x.NewGrad(), g);
                else
                {
                    var dx = Tensor.Empty(be, x.Shape);
                    be.Conv2dForward(dz, w, null, dx, g);
                    Accumulate(x, dx);
                }
            }
            if (w.RequiresGrad) be.Conv2dBackwardWeight(dz, x, w.GradOrZeros(), g);
        });
        return y;
    }

    /// <summary>
    /// PixelSNAIL's masked conv: conv2d with weight ∘ mask, the product taken in the graph (F.Mul) so the raw
    /// weight's gradient is exactly 0 at masked taps and checkpoints may hold unmasked weights.
    /// <paramref name="mask"/> has the weight's shape or is a [1,1,KH,KW] / [KH,KW] kernel mask broadcast over
    /// channels (the broadcast is a K=1 matmul with ones, so it stays on the device).
    /// </summary>
    public static Tensor MaskedConv2d(Tensor x, Tensor w, Tensor mask, Tensor? bias = null, int stride = 1, int padding = 0)
        => MaskedConv2d(x, w, mask, bias, stride, (padding, padding, padding, padding));

    /// <summary>
    /// Masked conv with F.pad-style (left, right, top, bottom) padding. On a backend with masked conv kernels (cuda) a
    /// [KH, KW] kernel mask goes to kernels that skip the masked taps (no masked weight in the graph, the same values
    /// up to summation order); elsewhere, or with a full-shape mask, the graph above.
    /// </summary>
    public static Tensor MaskedConv2d(Tensor x, Tensor w, Tensor mask, Tensor? bias, int stride, (int Left, int Right, int Top, int Bottom) pad)
    {
        RequireSameBackend("masked_conv2d", x, w, bias, mask);
        ShapeUtil.RequireRank(x, 4, "masked_conv2d", "input");
        ShapeUtil.RequireRank(w, 4, "masked_conv2d", "weight");
        if (mask.RequiresGrad || mask.Numel != w.Dim(2) * w.Dim(3) || w.Dim(1) != x.Dim(1) || (bias is not null && (bias.Rank != 1 || bias.Dim(0) != w.Dim(0))))
            return Conv2d(x, MaskWeight(w, mask), bias, stride, pad);
        var g = ConvGeom.Create(x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3), w.Dim(0), w.Dim(2), w.Dim(3),
            stride, stride, pad.Top, pad.Bottom, pad.Left, pad.Right);
        var be = x.Backend;
        if (!be.HasMaskedConvKernels(g)) return Conv2d(x, MaskWeight(w, mask), bias, stride, pad);
        var y = Tensor.Empty(be, g.N, g.Cout, g.Hout, g.Wout);
        be.MaskedConv2dForward(x, w, mask, bias, y, g);
        Autograd.Record("masked_conv2d", y, [x, w, bias], dy =>
        {
            if (x.RequiresGrad) be.MaskedConv2dBackwardInput(dy, w, mask, x.GradOrZeros(), g);
            if (w.RequiresGrad) be.MaskedConv2dBackwardWeight(x, dy, mask, w.GradOrZeros(), g);
            if (bias is not null && bias.RequiresGrad) be.ChannelSum(dy, bias.GradOrZeros(), g.N, g.Cout, g.Hout * g.Wout);
        });
        return y;
    }

    private static Tensor MaskWeight(Tensor w, Tensor mask)
    {
        ShapeUtil.RequireRank(w, 4, "masked_conv2d", "weight");
        if (mask.Numel == w.Numel) return Mul(w, mask.Reshape(w.Shape));
        int kk = w.Dim(2) * w.Dim(3), oc = w.Dim(0) * w.Dim(1);
        if (mask.Numel != kk)
            throw new ArgumentException($"masked_conv2d: mask {ShapeUtil.Format(mask.Shape)} fits neither the weight {ShapeUtil.Format(w.Shape)} nor its {w.Dim(2)}x{w.Dim(3)} kernel");
        var ones = Tensor.Full(w.Backend, 1f, oc, 1);
        var full = Matmul(ones, mask.Reshape(1, kk)).Reshape(w.Shape);
        return Mul(w, full);
    }
}
