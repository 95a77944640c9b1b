namespace NativeVq;

/// <summary>
/// Geometry of one 2-D convolution (cross-correlation, dilation 1, groups 1), NCHW. Only ints, so it can be
/// passed to ILGPU kernels as is. Padding is "virtual zeros": input row <c>ih = oi·StrideH − PadTop + u</c>
/// is read by output row <c>oi</c> at tap <c>u</c> and counts as 0 outside [0, H). Asymmetric padding
/// (F.pad's left/right/top/bottom) needs only PadTop/PadLeft plus the output size: the bottom/right pads are
/// implied by <see cref="Hout"/>/<see cref="Wout"/>, see <see cref="Create(int,int,int,int,int,int,int,int,int,int,int,int,int)"/>.
/// </summary>
public readonly record struct ConvGeom(
    int N, int Cin, int H, int W, int Cout, int KH, int KW,
    int StrideH, int StrideW, int PadTop, int PadLeft, int Hout, int Wout)
{
    /// <summary>
    /// Geometry with explicit per-side padding: <c>Hout = floor((H + padTop + padBottom − KH)/strideH) + 1</c>,
    /// likewise for W (torch's floor: trailing rows that no full window reaches are never read).
    /// </summary>
    public static ConvGeom Create(int n, int cin, int h, int w, int cout, int kh, int kw,
        int strideH, int strideW, int padTop, int padBottom, int padLeft, int padRight)
    {
        if (strideH < 1 || strideW < 1) throw new ArgumentException($"conv: stride must be ≥ 1, got ({strideH},{strideW})");
        if (padTop < 0 || padBottom < 0 || padLeft < 0 || padRight < 0) throw new ArgumentException("conv: padding must be ≥ 0");
        int hp = h + padTop + padBottom, wp = w + padLeft + padRight;
        if (kh < 1 || kw < 1 || hp < kh || wp < kw)
            throw new ArgumentException($"conv: kernel {kh}x{kw} larger than the padded input {hp}x{wp}");
        return new ConvGeom(n, cin, h, w, cout, kh, kw, strideH, strideW, padTop, padLeft,
            (hp - kh) / strideH + 1, (wp - kw) / strideW + 1);
    }

    /// <summary>Square kernel, same stride and padding p on all four sides.</summary>
    public static ConvGeom Create(int n, int cin, int h, int w, int cout, int k, int stride, int padding)
        => Create(n, cin, h, w, cout, k, k, stride, stride, padding, padding, padding, padding);

    /// <summary>Rows of the im2col matrix: Cin·KH·KW (the GEMM's K dimension).</summary>
    public int Ckk => Cin * KH * KW;
    public int InputSize => N * Cin * H * W;
    public int OutputSize => N * Cout * Hout * Wout;
    public int WeightSize => Cout * Cin * KH * KW;
    /// <summary>Multiply-adds ×2 of one pass (forward, backward-input and backward-weight each cost this).</summary>
    public double Flops => 2.0 * N * Cout * Hout * Wout * (double)Ckk;
    public double Bytes => 4.0 * ((double)InputSize + OutputSize + WeightSize);

    /// <summary>True when the conv is a plain GEMM per image (1x1, stride 1, no padding): im2col is the identity.</summary>
    public bool IsPointwise => KH == 1 && KW == 1 && StrideH == 1 && StrideW == 1 && PadTop == 0 && PadLeft == 0 && Hout == H && Wout == W;

    public override string ToString()
        => $"conv[{N},{Cin},{H},{W}]->[{N},{Cout},{Hout},{Wout}] k{KH}x{KW} s{StrideH},{StrideW} p(top {PadTop}, left {PadLeft})";
}

/// <summary>The activation a conv applies in its epilogue (after the bias).</summary>
public enum ConvActivation { None, Relu, LeakyRelu, Elu }

/// <summary>
/// What a conv does to each output element after the GEMM: y = act(acc + bias[o]). Relu, LeakyRelu(slope) and Elu
/// (alpha 1) compute exactly what F.Relu, F.LeakyRelu and F.Elu compute, so a fused layer equals the unfused
/// composition bit for bit. Backward needs only y: act'(x) is read from y (y &gt; 0 exactly where x &gt; 0 for these
/// three, given slope ≥ 0; ELU's e^x = y + 1), so the pre-activation is never stored.
/// </summary>
public readonly record struct ConvEpilogue
{
    public ConvEpilogue(ConvActivation activation, float slope = 0f)
    {
        if (!Enum.IsDefined(activation)) throw new ArgumentOutOfRangeException(nameof(activation));
        if (activation == ConvActivation.LeakyRelu && !(slope >= 0f && float.IsFinite(slope)))
            throw new ArgumentException($"conv epilogue: LeakyReLU slope must be finite and ≥ 0 (its sign is read back from y), got {slope}");
        Activation = activation;
        Slope = activation == ConvActivation.LeakyRelu ? slope : 0f;
    }

    public ConvActivation Activation { get; }
    /// <summary>LeakyReLU's negative slope (0 for the other activations).</summary>
    public float Slope { get; }

    public static ConvEpilogue None => default;
    public static ConvEpilogue Relu => new(ConvActivation.Relu);
    public static ConvEpilogue Elu => new(ConvActivation.Elu);
    public static ConvEpilogue LeakyRelu(float slope) => new(ConvActivation.LeakyRelu, slope);

    /// <summary>The activation as the int code kernels take (0 none, 1 ReLU, 2 LeakyReLU, 3 ELU).</summary>
    public int Code => (int)Activation;

    public override string ToString() => Activation == ConvActivation.LeakyRelu ? $"leaky_relu({Slope})" : Activation.ToString().ToLowerInvariant();
}

// Convolution kernels (conv2d and, as its adjoint, conv_transpose2d). x [N,Cin,H,W], w [Cout,Cin,KH,KW],
// y [N,Cout,Hout,Wout]. conv_transpose2d reuses these three with the roles of x and y swapped.
public abstract partial class Backend
{
    /// <summary>y = conv(x, w) (+ bias[o]); overwrites y.</summary>
    public void Conv2dForward(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeom g)
        => Conv2dForward(x, w, bias, y, g, ConvEpilogue.None);

    /// <summary>
    /// y = act(conv(x, w) + bias[o]); overwrites y. A backend that has the epilogue in its kernel's store applies it
    /// there; otherwise one in-place <see cref="BiasActivation"/> pass follows the conv (same values either way).
    /// </summary>
    public void Conv2dForward(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeom g, ConvEpilogue epilogue)
    {
        CheckConv(g, x, w, y, "conv2d");
        bool hasEpilogue = bias is not null || epilogue.Activation != ConvActivation.None;
        bool fused = false;
        using (Profiler.Kernel(this, "conv2d", g.Flops, g.Bytes, x, w, y))
        {
            fused = hasEpilogue && Conv2dForwardEpilogueCore(x, w, bias, y, g, epilogue);
            if (!fused) Conv2dForwardCore(x, w, y, g);
        }
        if (!hasEpilogue || fused) return;
        if (epilogue.Activation == ConvActivation.None) AddChannelBias(bias!, y, g.N, g.Cout, g.Hout * g.Wout);
        else BiasActivation(y, bias, g.N, g.Cout, g.Hout * g.Wout, epilogue);
    }

    /// <summary>
    /// y = act(conv(x, w) + bias[o]) in one kernel (the epilogue in the store, the same float operations as the
    /// separate passes); false when this backend has no such kernel here, and then nothing was launched.
    /// </summary>
    protected virtual bool Conv2dForwardEpilogueCore(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeom g, ConvEpilogue epilogue) => false;

    /// <summary>y[n,c,p] = act(y[n,c,p] + bias[c]) in place (bias optional): the epilogue as its own pass.</summary>
    public void BiasActivation(Tensor y, Tensor? bias, int n, int c, int hw, ConvEpilogue epilogue)
    {
        if (y.Numel != (long)n * c * hw || (bias is not null && bias.Numel != c))
            throw new ArgumentException($"bias_activation: y {ShapeUtil.Format(y.Shape)} / bias do not match [{n},{c},{hw}]");
        using var _ = Profiler.Kernel(this, "bias_activation", 2.0 * y.Numel, 8.0 * y.Numel, y);
        BiasActivationCore(y, bias, n, c, hw, epilogue);
    }

    /// <summary>
    /// The epilogue's backward: dz = act'(·)·dy (overwrites dz; the derivative read from the epilogue's output y) and,
    /// when <paramref name="dbias"/> is given, dbias[c] += Σ_(n,p) dz[n,c,p] in ChannelSum's order (same bits).
    /// dz may be dy itself (the graph overwrites a dying gradient in place): kernels read dy[i] before writing dz[i].
    /// </summary>
    public void ActivationBackward(Tensor y, Tensor dy, Tensor dz, Tensor? dbias, int n, int c, int hw, ConvEpilogue epilogue)
    {
        if (y.Numel != (long)n * c * hw || dy.Numel != y.Numel || dz.Numel != y.Numel || (dbias is not null && dbias.Numel != c))
            throw new ArgumentException($"activation_backward: tensors do not match [{n},{c},{hw}]");
        using (Profiler.Kernel(this, "activation_backward", 2.0 * y.Numel, 12.0 * y.Numel, y))
            if (ActivationBackwardCore(y, dy, dz, dbias, n, c, hw, epilogue)) return;
        if (dbias is not null) ChannelSum(dz, dbias, n, c, hw);
    }

    protected abstract void BiasActivationCore(Tensor y, Tensor? bias, int n, int c, int hw, ConvEpilogue epilogue);

    /// <summary>dz = act'·dy; returns true when it also summed dz into dbias (the caller runs ChannelSum otherwise).</summary>
    protected abstract bool ActivationBackwardCore(Tensor y, Tensor dy, Tensor dz, Tensor? dbias, int n, int c, int hw, ConvEpilogue epilogue);

    /// <summary>dx += convᵀ(dy, w): the input gradient (also conv_transpose2d's forward). Accumulates.</summary>
    public void Conv2dBackwardInput(Tensor dy, Tensor w, Tensor dx, in ConvGeom g)
    {
        CheckConv(g, dx, w, dy, "conv2d.backward_input");
        using var _ = Profiler.Kernel(this, "conv2d.backward_input", g.Flops, g.Bytes, dy, w, dx);
        Conv2dBackwardInputCore(dy, w, dx, g);
    }

    /// <summary>
    /// dx = convᵀ(dy, w) into a fresh dx whose contents are never read (the transposed conv's output, a conv input's
    /// first gradient): the bits of <c>Fill(dx, 0)</c> then <see cref="Conv2dBackwardInput"/>. A backend with an
    /// overwriting kernel for g skips the fill pass; the others fill, then accumulate.
    /// </summary>
    public void Conv2dBackwardInputInto(Tensor dy, Tensor w, Tensor dx, in ConvGeom g)
    {
        if (HasConv2dBackwardInputOverwrite(g))
        {
            CheckConv(g, dx, w, dy, "conv2d.backward_input");
            using var _ = Profiler.Kernel(this, "conv2d.backward_input", g.Flops, g.Bytes, dy, w, dx);
            Conv2dBackwardInputOverwriteCore(dy, w, dx, g);
            return;
        }
        Fill(dx, 0f);
        Conv2dBackwardInput(dy, w, dx, g);
    }

    /// <summary>Whether <see cref="Conv2dBackwardInputOverwriteCore"/> runs g (then no fill is needed).</summary>
    protected virtual bool HasConv2dBackwardInputOverwrite(in ConvGeom g) => false;

    /// <summary>dx = 0 + convᵀ(dy, w), dx not read; only called where <see cref="HasConv2dBackwardInputOverwrite"/> said so.</summary>
    protected virtual void Conv2dBackwardInputOverwriteCore(Tensor dy, Tensor w, Tensor dx, in ConvGeom g) => throw new NotSupportedException();

    /// <summary>
    /// conv_transpose2d's forward into a fresh y (contents not read): y = convᵀ(x, w) (+ bias[c] of y's channels), where g
    /// is the conv whose input is y and whose output is x (w in its [Cout_g, Cin_g, KH, KW] = [Cin_t, Cout_t, KH, KW] layout).
    /// </summary>
    public void ConvTranspose2dForward(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeom g)
    {
        if (bias is not null && !HasConv2dBackwardInputOverwrite(g))
        {
            Fill(y, 0f);
            CheckConv(g, y, w, x, "conv_transpose2d");
            // The event is recorded only when the fused kernel ran: a probe that launched nothing must not add the
            // transposed conv's FLOPs a second time (the input-gradient kernel below records them).
            var timer = Profiler.Kernel(this, "conv_transpose2d", g.Flops, g.Bytes, x, w, y);
            if (ConvTranspose2dBiasCore(x, w, bias, y, g))
            {
                timer.Dispose();
                return;
            }
            Conv2dBackwardInput(x, w, y, g);
        }
        else Conv2dBackwardInputInto(x, w, y, g);
        if (bias is not null) AddChannelBias(bias, y, g.N, g.Cin, g.H * g.W);
    }

    /// <summary>
    /// conv_transpose2d with its bias in one kernel into the zeroed y (y += acc + bias: the same fl(acc + b) on a zeroed y
    /// as a separate bias pass); false when this backend has no such kernel here, and then nothing was launched.
    /// </summary>
    protected virtual bool ConvTranspose2dBiasCore(Tensor x, Tensor w, Tensor bias, Tensor y, in ConvGeom g) => false;

    /// <summary>dw += Σ_n dy_n ⋆ x_n: the weight gradient. Accumulates.</summary>
    public void Conv2dBackwardWeight(Tensor x, Tensor dy, Tensor dw, in ConvGeom g)
    {
        CheckConv(g, x, dw, dy, "conv2d.backward_weight");
        using var _ = Profiler.Kernel(this, "conv2d.backward_weight", g.Flops, g.Bytes, x, dy, dw);
        Conv2dBackwardWeightCore(x, dy, dw, g);
    }

    private static void CheckConv(in ConvGeom g, Tensor x, Tensor w, Tensor y, string op)
    {
        if (x.Numel != g.InputSize || w.Numel != g.WeightSize || y.Numel != g.OutputSize)
            throw new ArgumentException($"{op}: tensors {ShapeUtil.Format(x.Shape)}, {ShapeUtil.Format(w.Shape)}, {ShapeUtil.Format(y.Shape)} do not match {g}");
    }

    protected abstract void Conv2dForwardCore(Tensor x, Tensor w, Tensor y, in ConvGeom g);
    protected abstract void Conv2dBackwardInputCore(Tensor dy, Tensor w, Tensor dx, in ConvGeom g);
    protected abstract void Conv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor dw, in ConvGeom g);
}
