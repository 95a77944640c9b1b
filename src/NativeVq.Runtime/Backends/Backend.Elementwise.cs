namespace NativeVq;

public enum UnaryOp { Relu, Elu, Sigmoid, Tanh, Exp }

public enum BinaryOp { Add, Sub, Mul }

// Elementwise kernels. Shapes are not inspected: the kernels run over Numel elements.
public abstract partial class Backend
{
    /// <summary>y[i] = value.</summary>
    public void Fill(Tensor y, float value)
    {
        using var _ = Profiler.Kernel(this, "fill", 0, 4.0 * y.Numel, y);
        FillCore(y, value);
    }

    /// <summary>y = a·x + b·y (b = 0 overwrites: y is not read, so NaN garbage in y is harmless).</summary>
    public void Axpby(Tensor x, Tensor y, float a, float b)
    {
        using var _ = Profiler.Kernel(this, "axpby", 2.0 * x.Numel, 12.0 * x.Numel, x, y);
        AxpbyCore(x, y, a, b);
    }

    /// <summary>
    /// y = 0 + x: the first gradient written into a fresh (unfilled) gradient buffer. The same bits as
    /// <c>Fill(y, 0)</c> then <c>Axpby(x, y, 1, 1)</c> (x·1 + 0; the "+ 0" turns a −0 into +0 exactly as there) in one
    /// pass instead of three. Autograd uses it when a pass-through gradient (reshape, the transposed conv's input
    /// gradient, a sum's operands) reaches a tensor that has no gradient yet.
    /// </summary>
    public void GradCopy(Tensor x, Tensor y)
    {
        if (x.Numel != y.Numel) throw new ArgumentException($"grad_copy: {ShapeUtil.Format(x.Shape)} into {ShapeUtil.Format(y.Shape)}");
        using var _ = Profiler.Kernel(this, "grad_copy", x.Numel, 8.0 * x.Numel, x, y);
        GradCopyCore(x, y);
    }

    /// <summary>The composition it replaces; a backend overrides it with one pass.</summary>
    protected virtual void GradCopyCore(Tensor x, Tensor y)
    {
        FillCore(y, 0f);
        AxpbyCore(x, y, 1f, 1f);
    }

    /// <summary>y = f(x) for ReLU, ELU (alpha 1), sigmoid, tanh, exp.</summary>
    public void Unary(UnaryOp op, Tensor x, Tensor y)
    {
        using var _ = Profiler.Kernel(this, UnaryNames[(int)op], x.Numel, 8.0 * x.Numel, x);
        UnaryCore(op, x, y);
    }

    /// <summary>dx += f'(x) · dy; <paramref name="y"/> is f(x), used where the derivative is cheaper from it.</summary>
    public void UnaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor dy, Tensor dx)
    {
        using var _ = Profiler.Kernel(this, UnaryNames[(int)op] + ".backward", 2.0 * x.Numel, 20.0 * x.Numel, x);
        UnaryBackwardCore(op, x, y, dy, dx);
    }

    /// <summary>y = a ∘ b for same-shaped a, b.</summary>
    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor y)
    {
        using var _ = Profiler.Kernel(this, BinaryNames[(int)op], a.Numel, 12.0 * a.Numel, a, b);
        BinaryCore(op, a, b, y);
    }

    /// <summary>y += a · b elementwise (the backward of a product).</summary>
    public void MulAccumulate(Tensor a, Tensor b, Tensor y)
    {
        using var _ = Profiler.Kernel(this, "mul_acc", 2.0 * a.Numel, 16.0 * a.Numel, a, b);
        MulAccumulateCore(a, b, y);
    }

    private static readonly string[] UnaryNames = ["relu", "elu", "sigmoid", "tanh", "exp"];
    private static readonly string[] BinaryNames = ["add", "sub", "mul"];

    protected abstract void FillCore(Tensor y, float value);
    protected abstract void AxpbyCore(Tensor x, Tensor y, float a, float b);
    protected abstract void UnaryCore(UnaryOp op, Tensor x, Tensor y);
    protected abstract void UnaryBackwardCore(UnaryOp op, Tensor x, Tensor y, Tensor dy, Tensor dx);
    protected abstract void BinaryCore(BinaryOp op, Tensor a, Tensor b, Tensor y);
    protected abstract void MulAccumulateCore(Tensor a, Tensor b, Tensor y);
}
