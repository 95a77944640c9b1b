namespace NativeVq;

public static partial class F
{
    /// <summary>
    /// torch F.batch_norm on x [N, C, H, W] (or [N, C]) with affine weight and bias [C]. Training: normalises with this
    /// batch's mean and biased variance, the gradient flows through both, and the running statistics are updated in
    /// place as running = (1 − momentum)·running + momentum·batch, the variance unbiased (·M/(M − 1)), as PyTorch does.
    /// Eval: normalises with the running statistics, which are constants for the gradient.
    /// </summary>
    public static Tensor BatchNorm2d(Tensor x, Tensor weight, Tensor bias, Tensor runningMean, Tensor runningVar, bool training,
        float momentum = 0.1f, float eps = 1e-5f)
    {
        if (x.Rank is not (2 or 4)) throw new ArgumentException($"batch_norm: expected [N, C, H, W] or [N, C], got {ShapeUtil.Format(x.Shape)}");
        int n = x.Dim(0), c = x.Dim(1), hw = x.Numel / Math.Max(1, n * c);
        foreach (var t in new[] { weight, bias, runningMean, runningVar })
            if (t.Rank != 1 || t.Dim(0) != c)
                throw new ArgumentException($"batch_norm: {t.Name ?? "parameter"} {ShapeUtil.Format(t.Shape)} does not match {c} channels of {ShapeUtil.Format(x.Shape)}");
        RequireSameBackend("batch_norm", x, weight, bias, runningMean, runningVar);
        var be = x.Backend;
        long count = (long)n * hw;
        Tensor mean, var;
        if (training)
        {
            if (count < 2) throw new ArgumentException($"batch_norm: training needs more than one value per channel, got {ShapeUtil.Format(x.Shape)}");
            mean = Tensor.Empty(be, c);
            var = Tensor.Empty(be, c);
            be.BatchNormStats(x, mean, var, n, c, hw);
            be.Axpby(mean, runningMean, momentum, 1f - momentum);
            be.Axpby(var, runningVar, momentum * count / (count - 1f), 1f - momentum);
        }
        else
        {
            mean = runningMean;
            var = runningVar;
        }
        var y = Tensor.Empty(be, x.Shape);
        be.BatchNormForward(x, mean, var, weight, bias, y, n, c, hw, eps);
        // Eval-mode backward reads the running buffers: they are not updated between a forward and its backward here.
        Autograd.Record("batch_norm", y, [x, weight, bias], g =>
        {
            var sumDy = Tensor.Empty(be, c);
            var sumDyXhat = Tensor.Empty(be, c);
            be.BatchNormBackwardReduce(x, g, mean, var, sumDy, sumDyXhat, n, c, hw, eps);
            Accumulate(weight, sumDyXhat);
            Accumulate(bias, sumDy);
            if (x.RequiresGrad)
                be.BatchNormBackwardInput(x, g, mean, var, weight, sumDy, sumDyXhat, x.GradOrZeros(), n, c, hw, eps, batchStats: training);
        });
        return y;
    }
}
