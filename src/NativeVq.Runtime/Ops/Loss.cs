namespace NativeVq;

public static partial class F
{
    /// <summary>torch F.mse_loss(input, target), reduction 'mean'; gradients reach both arguments.</summary>
    public static Tensor MseLoss(Tensor input, Tensor target) => PairLoss_(PairLoss.Mse, input, target);

    /// <summary>torch F.l1_loss(input, target), reduction 'mean'; the gradient uses sign(0) = 0.</summary>
    public static Tensor L1Loss(Tensor input, Tensor target) => PairLoss_(PairLoss.L1, input, target);

    /// <summary>
    /// KL(N(μ, σ²) ‖ N(0, 1)) with σ² = exp(logvar), summed over each sample's latent dimensions and averaged over
    /// the batch (dimension 0): ½·Σ(μ² + e^logvar − logvar − 1)/N, the usual VAE convention
    /// (−½·Σ(1 + logvar − μ² − e^logvar) per sample). Composed from existing differentiable ops (mul, exp, add,
    /// sub, sum, scale), so it needs no kernel of its own: the composition's backward is μ/N for μ and
    /// ½(e^logvar − 1)/N for logvar, what a fused kernel would compute. The 1 is subtracted per element, not as
    /// D·N from the sum, so a small KL is not lost to cancellation against a large count.
    /// </summary>
    public static Tensor GaussianKl(Tensor mu, Tensor logvar)
    {
        ShapeUtil.RequireSame(mu, logvar, "gaussian_kl");
        RequireSameBackend("gaussian_kl", mu, logvar);
        int n = Math.Max(1, mu.Dim(0));
        var ones = Tensor.Full(mu.Backend, 1f, mu.Shape);
        var terms = Sub(Sub(Add(Mul(mu, mu), Exp(logvar)), logvar), ones);
        return Scale(Sum(terms), 0.5f / n);
    }

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
