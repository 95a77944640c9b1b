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

// Convolution kernels (conv2d and, as its adjoint, conv_transpose2d). x [N,Cin,H,W], w [Cout,Cin,KH,KW],
// y [N,Cout,Hout,Wout]. conv_transpose2d reuses these three with the roles of x and y swapped.
public abstract partial class Backend
{
    /// <summary>y = conv(x, w) (+ bias[o]); overwrites y.</summary>
    public void Conv2dForward(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeom g)
    {
        CheckConv(g, x, w, y, "conv2d");
        bool fused = false;
        using (Profiler.Kernel(this, "conv2d", g.Flops, g.Bytes, x, w, y))
        {
            fused = bias is not null && Conv2dForwardBiasCore(x, w, bias, y, g);
            if (!fused) Conv2dForwardCore(x, w, y, g);
        }
        if (bias is not null && !fused) AddChannelBias(bias, y, g.N, g.Cout, g.Hout * g.Wout);
    }

    /// <summary>
    /// y = conv(x, w) + bias[o] in one kernel (the bias added in the store epilogue, the same fl(acc + b) as a separate
    /// pass); false when this backend has no such kernel here, and then nothing was launched.
    /// </summary>
    protected virtual bool Conv2dForwardBiasCore(Tensor x, Tensor w, Tensor bias, Tensor y, in ConvGeom g) => false;

    /// <summary>dx += convᵀ(dy, w): the input gradient (also conv_transpose2d's forward). Accumulates.</summary>
    public void Conv2dBackwardInput(Tensor dy, Tensor w, Tensor dx, in ConvGeom g)
    {
        CheckConv(g, dx, w, dy, "conv2d.backward_input");
        using var _ = Profiler.Kernel(this, "conv2d.backward_input", g.Flops, g.Bytes, dy, w, dx);
        Conv2dBackwardInputCore(dy, w, dx, g);
    }

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
