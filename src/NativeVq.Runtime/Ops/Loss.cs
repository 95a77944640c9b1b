namespace NativeVq;

public static partial class F
{
    /// <summary>torch F.mse_loss(input, target), reduction 'mean'; gradients reach both arguments.</summary>
    public static Tensor MseLoss(Tensor input, Tensor target) => PairLoss_(PairLoss.Mse, input, target);

    /// <summary>torch F.l1_loss(input, target), reduction 'mean'; the gradient uses sign(0) = 0.</summary>
    public static Tensor L1Loss(Tensor input, Tensor target) => PairLoss_(PairLoss.L1, input, target);

    /// <summary>
    /// torch F.binary_cross_entropy_with_logits(logits, targets), reduction 'mean', computed as
    /// max(x, 0) − x·t + log(1 + exp(−|x|)) so no logit overflows; gradients reach both arguments.
    /// </summary>
    public static Tensor BceWithLogits(Tensor logits, Tensor targets) => PairLoss_(PairLoss.BceWithLogits, logits, targets);

    private static Tensor PairLoss_(PairLoss kind, Tensor a, Tensor b)
    {
        string name = kind switch { PairLoss.Mse => "mse_loss", PairLoss.L1 => "l1_loss", _ => "bce_with_logits" };
        ShapeUtil.RequireSame(a, b, name);
        RequireSameBackend(name, a, b);
        var be = a.Backend;
        var y = Tensor.Empty(be, Array.Empty<int>());
        be.LossForward(kind, a, b, y);
        // The backward reads the upstream scalar on the device: one fused kernel, no host synchronisation.
        Autograd.Record(name, y, [a, b], g =>
            be.LossBackward(kind, a, b, g, a.RequiresGrad ? a.GradOrZeros() : null, b.RequiresGrad ? b.GradOrZeros() : null));
        return y;
    }
}
