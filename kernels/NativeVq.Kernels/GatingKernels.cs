using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// GLU (channel dim 1) and dropout, one thread per output element. CPU twin: src/NativeVq.Runtime/Cpu/Gating.cs.
/// Dropout calls <see cref="DropoutHash.Hash"/> itself (integer mul/xor/shift only), so its mask is bit-identical
/// to the cpu one. Tests: tests/NativeVq.Tests/Kernels/ShapeParityTests.cs; bench: bench/NativeVq.Bench/ShapeBench.cs.
/// </summary>
public static class GatingKernels
{
    /// <summary>One thread per element of y [N, half, hw].</summary>
    public static void Glu(Index1D index, ArrayView<float> x, ArrayView<float> y, int half, int hw)
    {
        int plane = half * hw;
        int b = index / plane, r = index - b * plane;
        int ao = b * 2 * plane + r;
        float s = 1f / (1f + XMath.Exp(-x[ao + plane]));
        y[index] = x[ao] * s;
    }

    /// <summary>One thread per element of dy: writes its value element and its gate element of dx (disjoint).</summary>
    public static void GluBackward(Index1D index, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, int half, int hw)
    {
        int plane = half * hw;
        int b = index / plane, r = index - b * plane;
        int ao = b * 2 * plane + r, go = ao + plane;
        float a = x[ao], s = 1f / (1f + XMath.Exp(-x[go])), g = dy[index];
        dx[ao] += g * s;
        dx[go] += g * a * s * (1f - s);
    }

    /// <summary>
    /// y[i] (+)= keep(i) ? x[i]·scale : 0. The 64-bit seed arrives as the two 32-bit keys of
    /// <see cref="DropoutHash.Keys"/> (passed as ints: the bits are what matter).
    /// </summary>
    public static void Dropout(Index1D index, ArrayView<float> x, ArrayView<float> y, int threshold, float scale, int k0, int k1, int accumulate)
    {
        uint h = DropoutHash.Hash((uint)k0, (uint)k1, (uint)(int)index);
        float v = (int)(h >> 8) >= threshold ? x[index] * scale : 0f;
        if (accumulate != 0) y[index] += v;
        else y[index] = v;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? _glu;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _gluBackward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, float, int, int, int>? _dropout;

    protected override void GluCore(Tensor x, Tensor y, int n, int half, int hw)
    {
        if (y.Numel == 0) return;
        _glu ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(GatingKernels.Glu);
        _glu(y.Numel, F(x), F(y), half, hw);
    }

    protected override void GluBackwardCore(Tensor x, Tensor dy, Tensor dx, int n, int half, int hw)
    {
        if (dy.Numel == 0) return;
        _gluBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(GatingKernels.GluBackward);
        _gluBackward(dy.Numel, F(x), F(dy), F(dx), half, hw);
    }

    protected override void DropoutCore(Tensor x, Tensor y, int threshold, float scale, ulong seed, bool accumulate)
    {
        if (x.Numel == 0) return;
        var (k0, k1) = DropoutHash.Keys(seed);
        _dropout ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, float, int, int, int>(GatingKernels.Dropout);
        _dropout(x.Numel, F(x), F(y), threshold, scale, unchecked((int)k0), unchecked((int)k1), accumulate ? 1 : 0);
    }
}
