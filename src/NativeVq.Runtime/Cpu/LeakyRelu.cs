using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NativeVq.Cpu;

/// <summary>LeakyReLU on spans (CPU twin of kernels/NativeVq.Kernels/LeakyReluKernels.cs), a vector compare-and-select.</summary>
public static class CpuLeakyRelu
{
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, float slope)
    {
        int i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(slope);
            for (; i <= x.Length - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256<float>.Zero), v, v * s).StoreUnsafe(ref yr, (nuint)i);
            }
        }
        for (; i < x.Length; i++) y[i] = x[i] > 0f ? x[i] : x[i] * slope;
    }

    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, float slope)
    {
        int i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float gr = ref MemoryMarshal.GetReference(dy);
        ref float dr = ref MemoryMarshal.GetReference(dx);
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(slope);
            for (; i <= x.Length - 8; i += 8)
            {
                var g = Vector256.LoadUnsafe(ref gr, (nuint)i);
                var m = Vector256.GreaterThan(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256<float>.Zero);
                (Vector256.LoadUnsafe(ref dr, (nuint)i) + Vector256.ConditionalSelect(m, g, g * s)).StoreUnsafe(ref dr, (nuint)i);
            }
        }
        for (; i < x.Length; i++) dx[i] += x[i] > 0f ? dy[i] : dy[i] * slope;
    }
}

public sealed partial class CpuBackend
{
    protected override void LeakyReluCore(Tensor x, Tensor y, float slope)
        => CpuElementwise.Chunked(Array(x), Array(y), x.Numel, (xs, ys) => CpuLeakyRelu.Forward(xs, ys, slope));

    protected override void LeakyReluBackwardCore(Tensor x, Tensor dy, Tensor dx, float slope)
        => CpuElementwise.Chunked4(Array(x), Array(dy), Array(dx), Array(dx), x.Numel,
            (xs, gs, ds, _) => CpuLeakyRelu.Backward(xs, gs, ds, slope));
}
