namespace NativeVq;

/// <summary>
/// The differentiable ops (torch.nn.functional style). Each op is defined once, in one file per family
/// under Ops/: its forward calls backend kernels, its backward is recorded beside it with
/// <see cref="Autograd.Record"/> and accumulates into the inputs' gradients.
/// </summary>
public static partial class F
{
    /// <summary>A view of <paramref name="x"/> with another shape (same number of elements).</summary>
    public static Tensor Reshape(Tensor x, params int[] shape)
    {
        shape = (int[])shape.Clone();
        int infer = Array.IndexOf(shape, -1);
        if (infer >= 0)
        {
            int known = 1;
            for (int i = 0; i < shape.Length; i++) if (i != infer) known *= shape[i];
            shape[infer] = known == 0 ? 0 : x.Numel / known;
        }
        if (ShapeUtil.Numel(shape) != x.Numel)
            throw new ArgumentException($"reshape: cannot view {ShapeUtil.Format(x.Shape)} as {ShapeUtil.Format(shape)}");
        var y = x.View(shape);
        // The view's gradient dies after this backward: a first gradient of x takes its buffer instead of a copy.
        Autograd.Record("reshape", y, [x], g =>
        {
            if (!Autograd.TryHandOverGrad(y, x)) Accumulate(x, g);
        });
        return y;
    }

    /// <summary>
    /// Adds <paramref name="g"/> into t's gradient when t takes part in the graph. The first gradient into a tensor
    /// without one is copied into a fresh buffer (<see cref="Backend.GradCopy"/>: the bits of zero-fill + add, one pass).
    /// </summary>
    internal static void Accumulate(Tensor t, Tensor g, float scale = 1f)
    {
        if (!t.RequiresGrad) return;
        if (scale == 1f && t.Grad is null) t.Backend.GradCopy(g, t.NewGrad());
        else t.Backend.Axpby(g, t.GradOrZeros(), scale, 1f);
    }

    internal static void RequireSameBackend(string op, params Tensor?[] ts)
    {
        Backend? b = null;
        foreach (var t in ts)
        {
            if (t is null) continue;
            b ??= t.Backend;
            if (!ReferenceEquals(b, t.Backend))
                throw new InvalidOperationException($"{op}: tensors on different backends ({b.Name} and {t.Backend.Name})");
        }
    }
}
