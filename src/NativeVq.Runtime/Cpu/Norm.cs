using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NativeVq.Cpu;

/// <summary>
/// Batch normalisation kernels (CPU twins of kernels/NativeVq.Kernels/NormKernels.cs). Channels run in parallel;
/// within a channel the planes are visited in order and summed in double, so results do not depend on the thread count.
/// </summary>
public static class CpuNorm
{
    /// <summary>Mean, then Σ(x − mean)² plane by plane (vector subtract and sum of squares in float, planes added in double).</summary>
    public static void Stats(float[] x, float[] mean, float[] var, int n, int c, int hw)
        => CpuParallel.For(c, 1, (s, e) =>
        {
            var diff = hw <= 4096 ? stackalloc float[hw] : new float[hw];
            for (int ch = s; ch < e; ch++)
            {
                double sum = 0;
                for (int i = 0; i < n; i++) sum += TensorPrimitives.Sum(x.AsSpan((i * c + ch) * hw, hw));
                double m = sum / ((double)n * hw), sq = 0;
                for (int i = 0; i < n; i++)
                {
                    TensorPrimitives.Subtract(x.AsSpan((i * c + ch) * hw, hw), (float)m, diff);
                    sq += TensorPrimitives.SumOfSquares(diff);
                }
                mean[ch] = (float)m;
                var[ch] = (float)(sq / ((double)n * hw));
            }
        });

    public static void Forward(float[] x, float[] mean, float[] var, float[] w, float[] b, float[] y, int n, int c, int hw, float eps)
        => CpuParallel.For(n * c, 1, (s, e) =>
        {
            for (int plane = s; plane < e; plane++)
            {
                int ch = plane % c;
                float scale = w[ch] / MathF.Sqrt(var[ch] + eps);
                float shift = b[ch] - mean[ch] * scale;
                ScaleShift(x.AsSpan(plane * hw, hw), scale, shift, y.AsSpan(plane * hw, hw));
            }
        });

    /// <summary>Σ dy·x̂ is formed as istd·(Σ dy·x − mean·Σ dy) from per-plane float dot products added in double.</summary>
    public static void BackwardReduce(float[] x, float[] dy, float[] mean, float[] var, float[] sumDy, float[] sumDyXhat, int n, int c, int hw, float eps)
        => CpuParallel.For(c, 1, (s, e) =>
        {
            for (int ch = s; ch < e; ch++)
            {
                double g = 0, gx = 0;
                for (int i = 0; i < n; i++)
                {
                    int o = (i * c + ch) * hw;
                    g += TensorPrimitives.Sum(dy.AsSpan(o, hw));
                    gx += TensorPrimitives.Dot(dy.AsSpan(o, hw), x.AsSpan(o, hw));
                }
                double istd = 1.0 / Math.Sqrt(var[ch] + (double)eps);
                sumDy[ch] = (float)g;
                sumDyXhat[ch] = (float)(istd * (gx - mean[ch] * g));
            }
        });

    /// <summary>dx += a·dy + b·x + k per channel, the input gradient written as an affine map of (dy, x).</summary>
    public static void BackwardInput(float[] x, float[] dy, float[] mean, float[] var, float[] w, float[] sumDy, float[] sumDyXhat, float[] dx,
        int n, int c, int hw, float eps, bool batchStats)
        => CpuParallel.For(n * c, 1, (s, e) =>
        {
            double count = (double)n * hw;
            for (int plane = s; plane < e; plane++)
            {
                int ch = plane % c;
                double istd = 1.0 / Math.Sqrt(var[ch] + (double)eps), a = w[ch] * istd;
                var dxs = dx.AsSpan(plane * hw, hw);
                if (!batchStats)
                {
                    TensorPrimitives.MultiplyAdd(dy.AsSpan(plane * hw, hw), (float)a, dxs, dxs);
                    continue;
                }
                // x̂·sumDyXhat/M = (x − mean)·istd·sumDyXhat/M: the x coefficient and a constant.
                double bx = -a * istd * sumDyXhat[ch] / count;
                double k = -a * sumDy[ch] / count - bx * mean[ch];
                AffineGradient(dy.AsSpan(plane * hw, hw), (float)a, x.AsSpan(plane * hw, hw), (float)bx, (float)k, dxs);
            }
        });

    /// <summary>
    /// y = x·scale + shift in one pass: per element the multiply then the add, rounded separately — the bits of
    /// TensorPrimitives.Multiply then TensorPrimitives.Add, which made two passes over each plane.
    /// </summary>
    private static void ScaleShift(ReadOnlySpan<float> x, float scale, float shift, Span<float> y)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float yr = ref MemoryMarshal.GetReference(y);
            var s = Vector512.Create(scale);
            var t = Vector512.Create(shift);
            for (; i <= x.Length - 16; i += 16)
                (Vector512.LoadUnsafe(ref xr, (nuint)i) * s + t).StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < x.Length; i++) y[i] = x[i] * scale + shift;
    }

    /// <summary>
    /// dx = ((dy·a + dx) + x·bx) + k in one pass, each product and sum rounded separately in that order — the bits of
    /// the three TensorPrimitives passes (MultiplyAdd, MultiplyAdd, Add: unfused multiply-adds) it replaces.
    /// </summary>
    private static void AffineGradient(ReadOnlySpan<float> dy, float a, ReadOnlySpan<float> x, float bx, float k, Span<float> dx)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float gr = ref MemoryMarshal.GetReference(dy);
            ref float xr = ref MemoryMarshal.GetReference(x);
            ref float dr = ref MemoryMarshal.GetReference(dx);
            var va = Vector512.Create(a);
            var vb = Vector512.Create(bx);
            var vk = Vector512.Create(k);
            for (; i <= dx.Length - 16; i += 16)
            {
                var d = Vector512.LoadUnsafe(ref gr, (nuint)i) * va + Vector512.LoadUnsafe(ref dr, (nuint)i);
                d = Vector512.LoadUnsafe(ref xr, (nuint)i) * vb + d;
                (d + vk).StoreUnsafe(ref dr, (nuint)i);
            }
        }
        for (; i < dx.Length; i++)
        {
            float d = dy[i] * a + dx[i];
            d = x[i] * bx + d;
            dx[i] = d + k;
        }
    }
}

public sealed partial class CpuBackend
{
    protected override void BatchNormStatsCore(Tensor x, Tensor mean, Tensor var, int n, int c, int hw)
        => CpuNorm.Stats(Array(x), Array(mean), Array(var), n, c, hw);

    protected override void BatchNormForwardCore(Tensor x, Tensor mean, Tensor var, Tensor weight, Tensor bias, Tensor y, int n, int c, int hw, float eps)
        => CpuNorm.Forward(Array(x), Array(mean), Array(var), Array(weight), Array(bias), Array(y), n, c, hw, eps);

    protected override void BatchNormBackwardReduceCore(Tensor x, Tensor dy, Tensor mean, Tensor var, Tensor sumDy, Tensor sumDyXhat, int n, int c, int hw, float eps)
        => CpuNorm.BackwardReduce(Array(x), Array(dy), Array(mean), Array(var), Array(sumDy), Array(sumDyXhat), n, c, hw, eps);

    protected override void BatchNormBackwardInputCore(Tensor x, Tensor dy, Tensor mean, Tensor var, Tensor weight, Tensor sumDy, Tensor sumDyXhat, Tensor dx,
        int n, int c, int hw, float eps, bool batchStats)
        => CpuNorm.BackwardInput(Array(x), Array(dy), Array(mean), Array(var), Array(weight), Array(sumDy), Array(sumDyXhat), Array(dx), n, c, hw, eps, batchStats);
}
