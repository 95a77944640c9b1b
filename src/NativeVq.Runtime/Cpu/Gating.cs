using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;

namespace NativeVq.Cpu;

/// <summary>
/// GLU and dropout on spans (CPU twins of kernels/NativeVq.Kernels/GatingKernels.cs). GLU works row by row
/// (one channel plane of the value half and its gate plane) with TensorPrimitives; dropout evaluates the
/// counter hash of <see cref="DropoutHash"/> in Vector&lt;uint&gt; lanes — integer ops only, so the mask is
/// bit-identical to the scalar/GPU version.
/// </summary>
public static class CpuGating
{
    private const int GrainElements = 16 * 1024;

    /// <summary>y[b,c,:] = x[b,c,:] · σ(x[b,c+half,:]).</summary>
    public static void Glu(float[] x, float[] y, int n, int half, int hw)
    {
        int rows = n * half;
        void Body(int s, int e)
        {
            for (int r = s; r < e; r++)
            {
                int b = r / half, c = r - b * half;
                var a = x.AsSpan((b * 2 * half + c) * hw, hw);
                var g = x.AsSpan((b * 2 * half + half + c) * hw, hw);
                var o = y.AsSpan(r * hw, hw);
                VectorMath.Sigmoid(g, o);
                TensorPrimitives.Multiply(o, a, o);
            }
        }
        Run(rows, hw, Body);
    }

    /// <summary>da += dy·σ(b); db += dy·a·σ(b)·(1−σ(b)). σ(b) goes through a pooled scratch row.</summary>
    public static void GluBackward(float[] x, float[] dy, float[] dx, int n, int half, int hw)
    {
        int rows = n * half;
        void Body(int s, int e)
        {
            var buf = ArrayPool<float>.Shared.Rent(2 * hw);
            var sig = buf.AsSpan(0, hw);
            var t = buf.AsSpan(hw, hw);
            for (int r = s; r < e; r++)
            {
                int b = r / half, c = r - b * half;
                int ao = (b * 2 * half + c) * hw, go = (b * 2 * half + half + c) * hw;
                var a = x.AsSpan(ao, hw);
                var g = dy.AsSpan(r * hw, hw);
                VectorMath.Sigmoid(x.AsSpan(go, hw), sig);
                var da = dx.AsSpan(ao, hw);
                TensorPrimitives.MultiplyAdd(g, sig, da, da);          // da += dy·σ
                TensorPrimitives.Multiply(g, a, t);                    // t = dy·a
                TensorPrimitives.Multiply(t, sig, t);                  // t = dy·a·σ
                TensorPrimitives.Subtract(1f, sig, sig);               // sig = 1−σ
                var db = dx.AsSpan(go, hw);
                TensorPrimitives.MultiplyAdd(t, sig, db, db);          // db += dy·a·σ(1−σ)
            }
            ArrayPool<float>.Shared.Return(buf);
        }
        Run(rows, hw, Body);
    }

    /// <summary>y[i] (+)= keep(i) ? x[i]·scale : 0 with keep(i) ⇔ (hash(k0,k1,i) &gt;&gt; 8) ≥ threshold.</summary>
    public static void Dropout(float[] x, float[] y, int count, int threshold, float scale, uint k0, uint k1, bool accumulate)
    {
        void Body(int s, int e)
        {
            int i = s;
            if (Vector.IsHardwareAccelerated && Vector<uint>.Count >= 4)
            {
                int lanes = Vector<uint>.Count;
                Span<uint> iota = stackalloc uint[lanes];
                for (int l = 0; l < lanes; l++) iota[l] = (uint)l;
                var lane = new Vector<uint>(iota);
                var vk0 = new Vector<uint>(k0);
                var vk1 = new Vector<uint>(k1);
                var vgold = new Vector<uint>(DropoutHash.Golden);
                var vth = new Vector<int>(threshold);
                var vscale = new Vector<float>(scale);
                for (; i <= e - lanes; i += lanes)
                {
                    var idx = new Vector<uint>((uint)i) + lane;
                    var h = Mix(Mix(idx * vgold + vk0) ^ vk1);
                    var keep = Vector.GreaterThanOrEqual(Vector.AsVectorInt32(Vector.ShiftRightLogical(h, 8)), vth);
                    var v = new Vector<float>(x, i) * vscale;
                    v = Vector.ConditionalSelect(keep, v, Vector<float>.Zero);
                    if (accumulate) v += new Vector<float>(y, i);
                    v.CopyTo(y, i);
                }
            }
            for (; i < e; i++)
            {
                bool keep = (int)(DropoutHash.Hash(k0, k1, (uint)i) >> 8) >= threshold;
                float v = keep ? x[i] * scale : 0f;
                y[i] = accumulate ? y[i] + v : v;
            }
        }
        if (count < 2 * GrainElements) Body(0, count);
        else CpuParallel.For(count, GrainElements, Body);
    }

    private static Vector<uint> Mix(Vector<uint> h)
    {
        h ^= Vector.ShiftRightLogical(h, 16); h *= new Vector<uint>(0x85EBCA6Bu);
        h ^= Vector.ShiftRightLogical(h, 13); h *= new Vector<uint>(0xC2B2AE35u);
        h ^= Vector.ShiftRightLogical(h, 16);
        return h;
    }

    private static void Run(int rows, int hw, Action<int, int> body)
    {
        if ((long)rows * hw < 2 * GrainElements) body(0, rows);
        else CpuParallel.For(rows, Math.Max(1, GrainElements / Math.Max(1, hw)), body);
    }
}

public sealed partial class CpuBackend
{
    protected override void GluCore(Tensor x, Tensor y, int n, int half, int hw) => CpuGating.Glu(Array(x), Array(y), n, half, hw);

    protected override void GluBackwardCore(Tensor x, Tensor dy, Tensor dx, int n, int half, int hw)
        => CpuGating.GluBackward(Array(x), Array(dy), Array(dx), n, half, hw);

    protected override void DropoutCore(Tensor x, Tensor y, int threshold, float scale, ulong seed, bool accumulate)
    {
        var (k0, k1) = DropoutHash.Keys(seed);
        CpuGating.Dropout(Array(x), Array(y), x.Numel, threshold, scale, k0, k1, accumulate);
    }
}
