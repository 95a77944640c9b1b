namespace NativeVq.Optim;

/// <summary>Gradient clipping (torch.nn.utils.clip_grad_norm_ with the 2-norm).</summary>
public static class GradClip
{
    /// <summary>
    /// Total 2-norm of all gradients (parameters without one are ignored); when it exceeds
    /// <paramref name="maxNorm"/>, every gradient is scaled by maxNorm / (norm + 1e-6) as torch does. Each
    /// gradient's Σg² is one deterministic <see cref="Backend.SumSquares"/> into its own slot; the slots are read
    /// back once (the returned norm needs the host) and added in order in double. A non-finite norm is returned
    /// as is and the gradients are left untouched, so the caller can skip the step.
    /// </summary>
    public static float ClipGlobalNorm(IEnumerable<Tensor> parameters, float maxNorm)
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), "maxNorm must be positive");
        var grads = parameters.Where(p => p.Grad is not null).Select(p => p.Grad!).ToArray();
        if (grads.Length == 0) return 0f;
        double total = 0;
        foreach (var group in grads.GroupBy(g => g.Backend))
        {
            var gs = group.ToArray();
            using var slots = TensorScope.Unscoped(() => Tensor.Empty(group.Key, gs.Length));
            for (int i = 0; i < gs.Length; i++) group.Key.SumSquares(gs[i], slots, i);
            foreach (var s in slots.ToArray()) total += s;
        }
        float norm = (float)Math.Sqrt(total);
        if (!float.IsFinite(norm)) return norm;
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1)
            foreach (var g in grads) g.Backend.Axpby(g, g, (float)coef, 0f);
        return norm;
    }
}
