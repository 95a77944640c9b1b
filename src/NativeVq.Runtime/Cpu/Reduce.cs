using System.Numerics.Tensors;

namespace NativeVq.Cpu;

/// <summary>Reductions and channel broadcasts (CPU twins of kernels/NativeVq.Kernels/ReduceKernels.cs).</summary>
public static class CpuReduce
{
    /// <summary>Block size of the partial sums; the GPU kernel uses the same blocks, so both sum in one order.</summary>
    public const int Block = 1024;

    /// <summary>Σ x: float sums of fixed 1024-element blocks, then the block sums in order (in double).</summary>
    public static float Sum(ReadOnlySpan<float> x)
    {
        double total = 0;
        for (int s = 0; s < x.Length; s += Block)
            total += TensorPrimitives.Sum(x.Slice(s, Math.Min(Block, x.Length - s)));
        return (float)total;
    }

    public static void AddChannelBias(ReadOnlySpan<float> bias, Span<float> y, int n, int c, int hw)
    {
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                TensorPrimitives.Add(y.Slice((i * c + ch) * hw, hw), bias[ch], y.Slice((i * c + ch) * hw, hw));
    }

    public static void ChannelSum(ReadOnlySpan<float> dy, Span<float> db, int n, int c, int hw)
    {
        for (int ch = 0; ch < c; ch++)
        {
            double s = 0;
            for (int i = 0; i < n; i++) s += TensorPrimitives.Sum(dy.Slice((i * c + ch) * hw, hw));
            db[ch] += (float)s;
        }
    }
}

public sealed partial class CpuBackend
{
    protected override void SumAllCore(Tensor x, Tensor y) => F(y)[0] = CpuReduce.Sum(F(x));

    protected override void AddScalarCore(Tensor s, float scale, Tensor y)
    {
        float v = scale * F(s)[0];
        var ys = F(y);
        TensorPrimitives.Add(ys, v, ys);
    }

    protected override void AddChannelBiasCore(Tensor bias, Tensor y, int n, int c, int hw) => CpuReduce.AddChannelBias(F(bias), F(y), n, c, hw);

    protected override void ChannelSumCore(Tensor dy, Tensor dbias, int n, int c, int hw) => CpuReduce.ChannelSum(F(dy), F(dbias), n, c, hw);
}
