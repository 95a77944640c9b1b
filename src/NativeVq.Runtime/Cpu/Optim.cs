using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NativeVq.Cpu;

/// <summary>Optimizer kernels (CPU twins of kernels/NativeVq.Kernels/OptimKernels.cs).</summary>
public static unsafe class CpuOptim
{
    private const int Grain = 64 * 1024;

    /// <summary>
    /// PyTorch 1.13 single-tensor Adam, elementwise and in place. The same float operations in the same order
    /// as torch (m·β1 + (1−β1)·g; v·β2 + (1−β2)·g·g; sqrt(v)/Bc2Sqrt + eps; p − StepSize·m/denom), vectorised
    /// with Vector&lt;float&gt; (no fused multiply-add, to round like the GPU kernel and torch's CPU loop).
    /// </summary>
    public static void AdamStep(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, AdamArgs a)
    {
        int n = p.Length;
        if (g.Length != n || m.Length != n || v.Length != n) throw new ArgumentException("adam: parameter, gradient and state sizes differ");
        if (n == 0) return;
        fixed (float* pp0 = p, gp0 = g, mp0 = m, vp0 = v)
        {
            float* pp = pp0, gp = gp0, mp = mp0, vp = vp0;
            CpuParallel.For(n, Grain, (s, e) => AdamRange(pp, gp, mp, vp, a, s, e));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AdamRange(float* p, float* g, float* m, float* v, AdamArgs a, int s, int e)
    {
        int w = Vector<float>.Count, i = s;
        float c1 = a.OneMinusBeta1, c2 = a.OneMinusBeta2;
        var b1 = new Vector<float>(a.Beta1); var b2 = new Vector<float>(a.Beta2);
        var vc1 = new Vector<float>(c1); var vc2 = new Vector<float>(c2);
        var wd = new Vector<float>(a.WeightDecay); var eps = new Vector<float>(a.Eps);
        var bc2 = new Vector<float>(a.Bc2Sqrt); var step = new Vector<float>(a.StepSize);
        bool decay = a.WeightDecay != 0f;
        // 16 lanes where AVX-512 runs them: sqrt and divide are correctly rounded, so the lane count cannot change a
        // bit; the step is bound by their throughput, which Zen 5 has at full width.
        if (Vector512.IsHardwareAccelerated)
        {
            var b1z = Vector512.Create(a.Beta1); var b2z = Vector512.Create(a.Beta2);
            var c1z = Vector512.Create(c1); var c2z = Vector512.Create(c2);
            var wdz = Vector512.Create(a.WeightDecay); var epsz = Vector512.Create(a.Eps);
            var bc2z = Vector512.Create(a.Bc2Sqrt); var stepz = Vector512.Create(a.StepSize);
            for (; i + 16 <= e; i += 16)
            {
                var pv = Vector512.Load(p + i);
                var gv = Vector512.Load(g + i);
                if (decay) gv += pv * wdz;
                var mv = Vector512.Load(m + i) * b1z + gv * c1z;
                var vv = Vector512.Load(v + i) * b2z + (gv * gv) * c2z;
                var denom = Vector512.Sqrt(vv) / bc2z + epsz;
                pv -= stepz * (mv / denom);
                Vector512.Store(mv, m + i);
                Vector512.Store(vv, v + i);
                Vector512.Store(pv, p + i);
            }
        }
        for (; i + w <= e; i += w)
        {
            var pv = Unsafe.ReadUnaligned<Vector<float>>(p + i);
            var gv = Unsafe.ReadUnaligned<Vector<float>>(g + i);
            if (decay) gv += pv * wd;
            var mv = Unsafe.ReadUnaligned<Vector<float>>(m + i) * b1 + gv * vc1;
            var vv = Unsafe.ReadUnaligned<Vector<float>>(v + i) * b2 + (gv * gv) * vc2;
            var denom = Vector.SquareRoot(vv) / bc2 + eps;
            pv -= step * (mv / denom);
            Unsafe.WriteUnaligned(m + i, mv);
            Unsafe.WriteUnaligned(v + i, vv);
            Unsafe.WriteUnaligned(p + i, pv);
        }
        for (; i < e; i++)
        {
            float gi = g[i];
            if (decay) gi += p[i] * a.WeightDecay;
            float mi = m[i] * a.Beta1 + gi * c1;
            float vi = v[i] * a.Beta2 + (gi * gi) * c2;
            float denom = MathF.Sqrt(vi) / a.Bc2Sqrt + a.Eps;
            p[i] -= a.StepSize * (mi / denom);
            m[i] = mi;
            v[i] = vi;
        }
    }

    /// <summary>Σ x²: float sums of fixed 1024-element blocks, block sums added in order in double.</summary>
    public static float SumSquares(ReadOnlySpan<float> x)
    {
        double total = 0;
        for (int s = 0; s < x.Length; s += CpuReduce.Block)
            total += TensorPrimitives.SumOfSquares(x.Slice(s, Math.Min(CpuReduce.Block, x.Length - s)));
        return (float)total;
    }
}

public sealed partial class CpuBackend
{
    protected override void AdamStepCore(Tensor p, Tensor g, Tensor m, Tensor v, in AdamArgs args) => CpuOptim.AdamStep(F(p), F(g), F(m), F(v), args);

    protected override void SumSquaresCore(Tensor x, Tensor y, int index) => F(y)[index] = CpuOptim.SumSquares(F(x));
}
