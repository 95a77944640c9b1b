namespace NativeVq.Nn;

/// <summary>Parameter initialisation, drawn from a seeded <see cref="Rng"/> so models are reproducible.</summary>
public static class Init
{
    /// <summary>U(−bound, bound), created outside any scope (parameters belong to their module).</summary>
    public static Tensor Uniform(Backend backend, Rng rng, float bound, params int[] shape)
    {
        var data = new float[ShapeUtil.Numel(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = rng.Uniform(-bound, bound);
        return TensorScope.Unscoped(() => Tensor.FromArray(backend, data, shape));
    }

    /// <summary>
    /// PyTorch's default for conv and linear layers: kaiming_uniform(a = √5) for weights and
    /// U(±1/√fan_in) for biases — both reduce to bound = 1/√fan_in.
    /// </summary>
    public static float DefaultBound(int fanIn) => 1f / MathF.Sqrt(Math.Max(1, fanIn));
}
