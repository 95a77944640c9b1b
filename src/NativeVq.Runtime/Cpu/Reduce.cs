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

    /// <summary>Below this many elements the channel kernels stay on the calling thread.</summary>
    private const int ParallelElements = 1 << 16;

    /// <summary>y[n,c,p] += bias[c]; planes run in parallel (each element is one exact add, so chunking cannot change it).</summary>
    public static void AddChannelBias(float[] bias, float[] y, int n, int c, int hw)
    {
        if ((long)n * c * hw < ParallelElements) AddChannelBiasPlanes(bias, y, c, hw, 0, n * c);
        else CpuParallel.For(n * c, Math.Max(1, 8192 / Math.Max(1, hw)), (s, e) => AddChannelBiasPlanes(bias, y, c, hw, s, e));
    }

    private static void AddChannelBiasPlanes(float[] bias, float[] y, int c, int hw, int first, int end)
    {
        for (int plane = first; plane < end; plane++)
        {
            var row = y.AsSpan(plane * hw, hw);
            TensorPrimitives.Add(row, bias[plane % c], row);
        }
    }

    /// <summary>db[c] += Σ_{n,p} dy[n,c,p]; channels run in parallel, each summed in the same fixed order (plane by plane, in double).</summary>
    public static void ChannelSum(float[] dy, float[] db, int n, int c, int hw)
    {
        if ((long)n * c * hw < ParallelElements) ChannelSums(dy, db, n, c, hw, 0, c);
        else CpuParallel.For(c, 1, (s, e) => ChannelSums(dy, db, n, c, hw, s, e));
    }

    private static void ChannelSums(float[] dy, float[] db, int n, int c, int hw, int first, int end)
    {
        for (int ch = first; ch < end; ch++)
        {
            double s = 0;
            for (int i = 0; i < n; i++) s += TensorPrimitives.Sum(dy.AsSpan((i * c + ch) * hw, hw));
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

    protected override void AddChannelBiasCore(Tensor bias, Tensor y, int n, int c, int hw) => CpuReduce.AddChannelBias(Array(bias), Array(y), n, c, hw);

    protected override void ChannelSumCore(Tensor dy, Tensor dbias, int n, int c, int hw) => CpuReduce.ChannelSum(Array(dy), Array(dbias), n, c, hw);
}
