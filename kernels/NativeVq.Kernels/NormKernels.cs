using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Batch normalisation. CPU twin: src/NativeVq.Runtime/Cpu/Norm.cs. The per-channel reductions are one thread per
/// channel summing in double (simple and deterministic; a grouped reduction like ReduceKernels.ChannelSumGrouped is
/// the upgrade if they show in a cuda profile); the elementwise passes are one thread per element.
/// </summary>
public static class NormKernels
{
    public static void Stats(Index1D ch, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> var, int n, int c, int hw)
    {
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            int o = (i * c + ch) * hw;
            for (int p = 0; p < hw; p++) sum += x[o + p];
        }
        double m = sum / ((double)n * hw), sq = 0;
        for (int i = 0; i < n; i++)
        {
            int o = (i * c + ch) * hw;
            for (int p = 0; p < hw; p++) { double d = x[o + p] - m; sq += d * d; }
        }
        mean[ch] = (float)m;
        var[ch] = (float)(sq / ((double)n * hw));
    }

    public static void Forward(Index1D i, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> var, ArrayView<float> w, ArrayView<float> b,
        ArrayView<float> y, int c, int hw, float eps)
    {
        int ch = i / hw % c;
        float scale = w[ch] * XMath.Rsqrt(var[ch] + eps);
        y[i] = (x[i] - mean[ch]) * scale + b[ch];
    }

    public static void BackwardReduce(Index1D ch, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> var,
        ArrayView<float> sumDy, ArrayView<float> sumDyXhat, int n, int c, int hw, float eps)
    {
        double g = 0, gx = 0, m = mean[ch];
        for (int i = 0; i < n; i++)
        {
            int o = (i * c + ch) * hw;
            for (int p = 0; p < hw; p++)
            {
                g += dy[o + p];
                gx += dy[o + p] * (x[o + p] - m);
            }
        }
        sumDy[ch] = (float)g;
        sumDyXhat[ch] = (float)(gx / XMath.Sqrt(var[ch] + (double)eps));
    }

    public static void BackwardInput(Index1D i, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> var, ArrayView<float> w,
        ArrayView<float> sumDy, ArrayView<float> sumDyXhat, ArrayView<float> dx, int n, int c, int hw, float eps, int batchStats)
    {
        int ch = i / hw % c;
        float istd = XMath.Rsqrt(var[ch] + eps);
        float a = w[ch] * istd, g = dy[i];
        if (batchStats != 0)
        {
            float count = (float)n * hw;
            float xhat = (x[i] - mean[ch]) * istd;
            g -= (sumDy[ch] + xhat * sumDyXhat[ch]) / count;
        }
        dx[i] += a * g;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _bnStats;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>? _bnForward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float>? _bnBackwardReduce;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        int, int, int, float, int>? _bnBackwardInput;

    protected override void BatchNormStatsCore(Tensor x, Tensor mean, Tensor var, int n, int c, int hw)
    {
        if (c == 0) return;
        _bnStats ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(NormKernels.Stats);
        _bnStats(c, F(x), F(mean), F(var), n, c, hw);
    }

    protected override void BatchNormForwardCore(Tensor x, Tensor mean, Tensor var, Tensor weight, Tensor bias, Tensor y, int n, int c, int hw, float eps)
    {
        if (x.Numel == 0) return;
        _bnForward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, float>(NormKernels.Forward);
        _bnForward(x.Numel, F(x), F(mean), F(var), F(weight), F(bias), F(y), c, hw, eps);
    }

    protected override void BatchNormBackwardReduceCore(Tensor x, Tensor dy, Tensor mean, Tensor var, Tensor sumDy, Tensor sumDyXhat, int n, int c, int hw, float eps)
    {
        if (c == 0) return;
        _bnBackwardReduce ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, int, int, int, float>(NormKernels.BackwardReduce);
        _bnBackwardReduce(c, F(x), F(dy), F(mean), F(var), F(sumDy), F(sumDyXhat), n, c, hw, eps);
    }

    protected override void BatchNormBackwardInputCore(Tensor x, Tensor dy, Tensor mean, Tensor var, Tensor weight, Tensor sumDy, Tensor sumDyXhat, Tensor dx,
        int n, int c, int hw, float eps, bool batchStats)
    {
        if (x.Numel == 0) return;
        _bnBackwardInput ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, int>(NormKernels.BackwardInput);
        _bnBackwardInput(x.Numel, F(x), F(dy), F(mean), F(var), F(weight), F(sumDy), F(sumDyXhat), F(dx), n, c, hw, eps, batchStats ? 1 : 0);
    }
}
