namespace NativeVq;

// PixelSNAIL's masked conv as kernels that skip the masked taps (conv2d with w ∘ mask, mask a [KH·KW] kernel mask).
// Only backends that have such kernels take this path (cuda: kernels/NativeVq.Kernels/TiledMaskedConvKernels.cs);
// the others run F.MaskedConv2d's graph (F.Mul of the weight and the mask, then conv2d), which is also the kernels'
// CPU twin in the parity tests.
public abstract partial class Backend
{
    /// <summary>Whether <see cref="MaskedConv2dForward"/> and its two gradients run here for this geometry.</summary>
    public virtual bool HasMaskedConvKernels(in ConvGeom g) => false;

    /// <summary>y = conv(x, w ∘ mask) (+ bias[o]); overwrites y. mask has KH·KW elements, shared by every channel pair.</summary>
    public void MaskedConv2dForward(Tensor x, Tensor w, Tensor mask, Tensor? bias, Tensor y, in ConvGeom g)
    {
        CheckMaskedConv(g, x, w, mask, y, "masked_conv2d");
        using var _ = Profiler.Kernel(this, "masked_conv2d", g.Flops, g.Bytes, x, w, y);
        MaskedConv2dForwardCore(x, w, mask, bias, y, g);
    }

    /// <summary>dx += convᵀ(dy, w ∘ mask). Accumulates.</summary>
    public void MaskedConv2dBackwardInput(Tensor dy, Tensor w, Tensor mask, Tensor dx, in ConvGeom g)
    {
        CheckMaskedConv(g, dx, w, mask, dy, "masked_conv2d.backward_input");
        using var _ = Profiler.Kernel(this, "masked_conv2d.backward_input", g.Flops, g.Bytes, dy, w, dx);
        MaskedConv2dBackwardInputCore(dy, w, mask, dx, g);
    }

    /// <summary>dw += mask ∘ Σ_n dy_n ⋆ x_n (0 at masked taps, as the graph's F.Mul backward). Accumulates.</summary>
    public void MaskedConv2dBackwardWeight(Tensor x, Tensor dy, Tensor mask, Tensor dw, in ConvGeom g)
    {
        CheckMaskedConv(g, x, dw, mask, dy, "masked_conv2d.backward_weight");
        using var _ = Profiler.Kernel(this, "masked_conv2d.backward_weight", g.Flops, g.Bytes, x, dy, dw);
        MaskedConv2dBackwardWeightCore(x, dy, mask, dw, g);
    }

    private void CheckMaskedConv(in ConvGeom g, Tensor x, Tensor w, Tensor mask, Tensor y, string op)
    {
        if (!HasMaskedConvKernels(g)) throw new NotSupportedException($"{op}: backend {Name} has no masked conv kernels for {g} (F.MaskedConv2d takes the graph path there)");
        if (x.Numel != g.InputSize || w.Numel != g.WeightSize || y.Numel != g.OutputSize || mask.Numel != g.KH * g.KW)
            throw new ArgumentException($"{op}: tensors {ShapeUtil.Format(x.Shape)}, {ShapeUtil.Format(w.Shape)}, mask {ShapeUtil.Format(mask.Shape)}, {ShapeUtil.Format(y.Shape)} do not match {g}");
    }

    protected virtual void MaskedConv2dForwardCore(Tensor x, Tensor w, Tensor mask, Tensor? bias, Tensor y, in ConvGeom g) => throw new NotSupportedException();
    protected virtual void MaskedConv2dBackwardInputCore(Tensor dy, Tensor w, Tensor mask, Tensor dx, in ConvGeom g) => throw new NotSupportedException();
    protected virtual void MaskedConv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor mask, Tensor dw, in ConvGeom g) => throw new NotSupportedException();
}
