namespace NativeVq;

public static partial class F
{
    public static Tensor Add(Tensor a, Tensor b) => BinaryOp_(BinaryOp.Add, a, b);
    public static Tensor Sub(Tensor a, Tensor b) => BinaryOp_(BinaryOp.Sub, a, b);
    public static Tensor Mul(Tensor a, Tensor b) => BinaryOp_(BinaryOp.Mul, a, b);

    private static Tensor BinaryOp_(BinaryOp op, Tensor a, Tensor b)
    {
        ShapeUtil.RequireSame(a, b, op.ToString().ToLowerInvariant());
        RequireSameBackend(op.ToString(), a, b);
        var y = Tensor.Empty(a.Backend, a.Shape);
        a.Backend.Binary(op, a, b, y);
        Autograd.Record(op.ToString().ToLowerInvariant(), y, [a, b], g =>
        {
            switch (op)
            {
                case BinaryOp.Add: Accumulate(a, g); Accumulate(b, g); break;
                case BinaryOp.Sub: Accumulate(a, g); Accumulate(b, g, -1f); break;
                case BinaryOp.Mul:
                    if (a.RequiresGrad) a.Backend.MulAccumulate(g, b, a.GradOrZeros());
                    if (b.RequiresGrad) b.Backend.MulAccumulate(g, a, b.GradOrZeros());
                    break;
            }
        });
        return y;
    }

    /// <summary>y = s·x.</summary>
    public static Tensor Scale(Tensor x, float s)
    {
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.Axpby(x, y, s, 0f);
        Autograd.Record("scale", y, [x], g => Accumulate(x, g, s));
        return y;
    }

    public static Tensor Relu(Tensor x) => Unary(UnaryOp.Relu, x);
    /// <summary>ELU with alpha 1.</summary>
    public static Tensor Elu(Tensor x) => Unary(UnaryOp.Elu, x);
    public static Tensor Sigmoid(Tensor x) => Unary(UnaryOp.Sigmoid, x);
    public static Tensor Tanh(Tensor x) => Unary(UnaryOp.Tanh, x);
    /// <summary>e^x (the VAE's σ² = exp(logvar)).</summary>
    public static Tensor Exp(Tensor x) => Unary(UnaryOp.Exp, x);

    private static Tensor Unary(UnaryOp op, Tensor x)
    {
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.Unary(op, x, y);
        Autograd.Record(op.ToString().ToLowerInvariant(), y, [x], g => x.Backend.UnaryBackward(op, x, y, g, x.GradOrZeros()));
        return y;
    }
}
