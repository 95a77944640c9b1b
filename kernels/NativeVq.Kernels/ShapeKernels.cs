using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Shape kernels (pad/crop/shift and channel concat/slice), one thread per written element; gathers, so
/// no atomics even when accumulating. CPU twin: src/NativeVq.Runtime/Cpu/Shape.cs.
/// Tests: tests/NativeVq.Tests/Kernels/ShapeParityTests.cs; bench: bench/NativeVq.Bench/ShapeBench.cs.
/// </summary>
public static class ShapeKernels
{
    /// <summary>Geometry of <see cref="Translate2d"/> (blittable: accumulate is an int).</summary>
    public readonly record struct TranslateArgs(int H, int W, int HOut, int WOut, int OffY, int OffX, int Accumulate);

    /// <summary>One thread per element of y: y[p,i,j] (+)= x[p,i−offY,j−offX] or 0 outside x.</summary>
    public static void Translate2d(Index1D index, ArrayView<float> x, ArrayView<float> y, TranslateArgs a)
    {
        int plane = a.HOut * a.WOut;
        int p = index / plane, r = index - p * plane, i = r / a.WOut, j = r - i * a.WOut;
        int si = i - a.OffY, sj = j - a.OffX;
        bool inside = si >= 0 && si < a.H && sj >= 0 && sj < a.W;
        float v = inside ? x[(p * a.H + si) * a.W + sj] : 0f;
        if (a.Accumulate != 0) { if (inside) y[index] += v; }
        else y[index] = v;
    }

    /// <summary>Geometry of <see cref="CopyChannels"/>.</summary>
    public readonly record struct CopyArgs(int Cs, int Cd, int Hw, int SrcStart, int DstStart, int Count, int Accumulate);

    /// <summary>One thread per copied element (N·count·hw threads).</summary>
    public static void CopyChannels(Index1D index, ArrayView<float> src, ArrayView<float> dst, CopyArgs a)
    {
        int block = a.Count * a.Hw;
        int b = index / block, k = index - b * block;
        float v = src[(b * a.Cs + a.SrcStart) * a.Hw + k];
        int o = (b * a.Cd + a.DstStart) * a.Hw + k;
        if (a.Accumulate != 0) dst[o] += v;
        else dst[o] = v;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ShapeKernels.TranslateArgs>? _translate2d;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ShapeKernels.CopyArgs>? _copyChannels;

    protected override void Translate2dCore(Tensor x, Tensor y, int offY, int offX, bool accumulate)
    {
        if (y.Numel == 0) return;
        _translate2d ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ShapeKernels.TranslateArgs>(ShapeKernels.Translate2d);
        // x may be empty (a crop to nothing, a pad of an empty map): give the kernel a valid view, it reads none of it.
        _translate2d(y.Numel, x.Numel == 0 ? F(y) : F(x), F(y),
            new ShapeKernels.TranslateArgs(x.Dim(2), x.Dim(3), y.Dim(2), y.Dim(3), offY, offX, accumulate ? 1 : 0));
    }

    protected override void CopyChannelsCore(Tensor src, Tensor dst, int srcStart, int dstStart, int count, bool accumulate, int n, int cs, int cd, int hw)
    {
        int threads = n * count * hw;
        if (threads == 0) return;
        _copyChannels ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ShapeKernels.CopyArgs>(ShapeKernels.CopyChannels);
        _copyChannels(threads, F(src), F(dst), new ShapeKernels.CopyArgs(cs, cd, hw, srcStart, dstStart, count, accumulate ? 1 : 0));
    }
}
