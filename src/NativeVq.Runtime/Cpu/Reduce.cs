using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

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
        if (hw == 1)
        {
            AddRowBias(bias, y, n, c);
            return;
        }
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

    /// <summary>
    /// y[i, f] += bias[f] over [n, c] rows (a Linear layer's bias, spatial size 1): one vector add per row. Per plane
    /// the same fl(y + b) as the plane loop, whose one-element planes cost a library call per float (60x slower).
    /// </summary>
    private static void AddRowBias(float[] bias, float[] y, int n, int c)
    {
        var b = bias.AsSpan(0, c);
        for (int i = 0; i < n; i++)
        {
            var row = y.AsSpan(i * c, c);
            TensorPrimitives.Add(row, b, row);
        }
    }

    /// <summary>db[c] += Σ_{n,p} dy[n,c,p]; channels run in parallel, each summed in the same fixed order (plane by plane, in double).</summary>
    public static void ChannelSum(float[] dy, float[] db, int n, int c, int hw)
    {
        if (hw == 1)
        {
            RowSums(dy, db, n, c);
            return;
        }
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

    /// <summary>
    /// <see cref="ChannelSum"/> for spatial size 1 (a Linear layer's bias gradient over [n, c] rows): the same
    /// arithmetic — per channel a double sum of the n values in row order (a one-element plane's float sum is the
    /// value itself; only a −0 could become +0 there, which a double sum starting at +0 absorbs alike) — but
    /// along the rows, 8 channels per double vector, instead of a strided library call per float.
    /// </summary>
    private static void RowSums(float[] dy, float[] db, int n, int c)
    {
        double[] acc = System.Buffers.ArrayPool<double>.Shared.Rent(c);
        try
        {
            Array.Clear(acc, 0, c);
            for (int i = 0; i < n; i++)
            {
                int ch = 0, o = i * c;
                if (Vector512.IsHardwareAccelerated)
                    for (; ch <= c - 16; ch += 16)
                    {
                        var (lo, hi) = Vector512.Widen(Vector512.Create(dy.AsSpan(o + ch, 16)));
                        (Vector512.Create(acc.AsSpan(ch, 8)) + lo).CopyTo(acc.AsSpan(ch, 8));
                        (Vector512.Create(acc.AsSpan(ch + 8, 8)) + hi).CopyTo(acc.AsSpan(ch + 8, 8));
                    }
                for (; ch < c; ch++) acc[ch] += dy[o + ch];
            }
            for (int ch = 0; ch < c; ch++) db[ch] += (float)acc[ch];
        }
        finally
        {
            System.Buffers.ArrayPool<double>.Shared.Return(acc);
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
