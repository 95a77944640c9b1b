namespace NativeVq;

public static partial class F
{
    /// <summary>
    /// Fully connected layer with PyTorch's weight layout: y = x·wᵀ + b for x [B, in], w [out, in], b [out].
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? b = null) => Linear(x, w, b, ConvEpilogue.None);

    /// <summary>
    /// act(x·wᵀ + b) as one op: the bias and activation in one pass over the GEMM's output (the conv epilogue's
    /// <see cref="Backend.BiasActivation"/> over [B, out] rows), and in backward the activation's derivative applied to
    /// dy once, from the output, with the bias gradient summed on the way (<see cref="Backend.ActivationBackward"/>).
    /// Equals F.Relu(F.Linear(x, w, b)) (or LeakyReLU / ELU) bit for bit, forward and gradients; it saves the
    /// separate activation pass, the activation gradient's zero-fill and the bias gradient's own pass over dy.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? b, ConvEpilogue epilogue)
    {
        RequireSameBackend("linear", x, w, b);
        if (x.Rank != 2 || w.Rank != 2 || w.Dim(1) != x.Dim(1) || (b is not null && (b.Rank != 1 || b.Dim(0) != w.Dim(0))))
            throw new ArgumentException($"linear: x {ShapeUtil.Format(x.Shape)}, w {ShapeUtil.Format(w.Shape)}{(b is null ? "" : ", b " + ShapeUtil.Format(b.Shape))} do not fit x [B,in], w [out,in], b [out]");
        int batch = x.Dim(0), inF = x.Dim(1), outF = w.Dim(0);
        var be = x.Backend;
        var y = Tensor.Empty(be, batch, outF);
        be.Gemm(new GemmSpec(false, true, batch, outF, inF), x, w, y);
        if (epilogue.Activation != ConvActivation.None) be.BiasActivation(y, b, batch, outF, 1, epilogue);
        else if (b is not null) be.AddChannelBias(b, y, batch, outF, 1);
        Autograd.Record(LinearNames[epilogue.Code], y, [x, w, b], g =>
        {
            // dz = act'·dy (dz = dy without an activation) with db = Σ_rows dz, then dx = dz·w, dw = dzᵀ·x (accumulated).
            var dz = EpilogueBackward(y, g, b, epilogue, batch, outF, 1);
            if (x.RequiresGrad)
            {
                // A first input gradient is the GEMM's own output (Beta 0): its sums start from +0, so the bits of the
                // zero-fill followed by the Beta 1 GEMM, without the fill pass.
                if (x.Grad is null) be.Gemm(new GemmSpec(false, false, batch, inF, outF), dz, w, x.NewGrad());
                else be.Gemm(new GemmSpec(false, false, batch, inF, outF, Beta: 1f), dz, w, x.Grad);
            }
            if (w.RequiresGrad) be.Gemm(new GemmSpec(true, false, outF, inF, batch, Beta: 1f), dz, x, w.GradOrZeros());
        });
        return y;
    }

    // Graph node names by ConvEpilogue.Code (fixed strings: a step allocates nothing per op).
    private static readonly string[] LinearNames = ["linear", "linear+relu", "linear+leaky_relu", "linear+elu"];

    /// <summary>
    /// A Linear layer applied at every position of [B, C, ...] over the channel dimension: y[b] = w·x[b] + bias,
    /// w [out, C]. It is exactly a 1×1 convolution over the flattened positions, so it runs on the conv kernels
    /// (one implicit GEMM over every image on cpu) and stays in NCHW, with no transpose to [B·HW, C].
    /// </summary>
    public static Tensor ChannelLinear(Tensor x, Tensor w, Tensor? b = null)
    {
        RequireSameBackend("channel_linear", x, w, b);
        if (x.Rank < 2 || w.Rank != 2 || w.Dim(1) != x.Dim(1) || (b is not null && (b.Rank != 1 || b.Dim(0) != w.Dim(0))))
            throw new ArgumentException($"channel_linear: x {ShapeUtil.Format(x.Shape)}, w {ShapeUtil.Format(w.Shape)}{(b is null ? "" : ", b " + ShapeUtil.Format(b.Shape))} do not fit x [B,C,...], w [out,C], b [out]");
        int batch = x.Dim(0), c = x.Dim(1), o = w.Dim(0), hw = batch * c == 0 ? 0 : x.Numel / (batch * c);
        var shape = (int[])x.Shape.Clone();
        shape[1] = o;
        var be = x.Backend;
        var y = Tensor.Empty(be, shape);
        var geom = new ConvGeom(batch, c, 1, hw, o, 1, 1, 1, 1, 0, 0, 1, hw);
        be.Conv2dForward(x, w, b, y, geom);
        Autograd.Record("channel_linear", y, [x, w, b], g =>
        {
            if (x.RequiresGrad) be.Conv2dBackwardInput(g, w, x.GradOrZeros(), geom);
            if (w.RequiresGrad) be.Conv2dBackwardWeight(x, g, w.GradOrZeros(), geom);
            if (b is not null && b.RequiresGrad) be.ChannelSum(g, b.GradOrZeros(), batch, o, hw);
        });
        return y;
    }
}
