using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NativeVq.Cpu;

/// <summary>
/// The conv epilogue on the CPU (twin of the epilogue in kernels/NativeVq.Kernels/TiledConvKernels.cs and ConvKernels.cs):
/// y = act(y + bias[c]) on rows the conv has just written (still in L1/L2), and its backward dz = act'·dy with the
/// bias gradient summed in the same pass. Each step calls the very functions the unfused ops call
/// (<see cref="CpuReduce.AddChannelBias"/>'s add, <see cref="CpuElementwise.Unary"/>, <see cref="CpuLeakyRelu"/>,
/// <see cref="CpuReduce.ChannelSum"/>'s order), all position-independent, so fused and unfused agree bit for bit.
/// </summary>
public static class CpuConvEpilogue
{
    /// <summary>True when the epilogue changes anything (a bias or an activation).</summary>
    public static bool Active(float[]? bias, ConvEpilogue ep) => bias is not null || ep.Activation != ConvActivation.None;

    /// <summary>row = act(row + bias) in place (bias skipped when <paramref name="hasBias"/> is false).</summary>
    public static void Apply(Span<float> row, bool hasBias, float bias, ConvEpilogue ep)
    {
        if (ep.Activation != ConvActivation.Elu && Vector512.IsHardwareAccelerated)
        {
            ApplyInline(row, hasBias, bias, ep);
            return;
        }
        if (hasBias) TensorPrimitives.Add(row, bias, row);
        switch (ep.Activation)
        {
            case ConvActivation.Relu: CpuElementwise.Unary(UnaryOp.Relu, row, row); break;
            case ConvActivation.Elu: CpuElementwise.Unary(UnaryOp.Elu, row, row); break;
            case ConvActivation.LeakyRelu: CpuLeakyRelu.Forward(row, row, ep.Slope); break;
        }
    }

    /// <summary>
    /// The bias and ReLU/LeakyReLU in one loop: the implicit GEMM calls the epilogue on 32-float panel rows, where two
    /// library calls per row cost a fifth of the panel's FMAs. Per element the same operations as the separate passes —
    /// fl(v + b) when there is a bias, then ReLU's vector max (scalar v &gt; 0 ? v : 0 in the
    /// tail, equal for every non-NaN value) or LeakyReLU's v &gt; 0 ? v : v·slope — so the same bits.
    /// </summary>
    private static void ApplyInline(Span<float> row, bool hasBias, float bias, ConvEpilogue ep)
    {
        int i = 0, len = row.Length;
        ref float r = ref MemoryMarshal.GetReference(row);
        var act = ep.Activation;
        var b = Vector512.Create(bias);
        var s = Vector512.Create(ep.Slope);
        for (; i <= len - 16; i += 16)
        {
            var v = Vector512.LoadUnsafe(ref r, (nuint)i);
            if (hasBias) v += b;
            Activate(v, act, s).StoreUnsafe(ref r, (nuint)i);
        }
        for (; i < len; i++) row[i] = Activate(hasBias ? row[i] + bias : row[i], act, ep.Slope);
    }

    /// <summary>ReLU / LeakyReLU of 16 lanes (identity otherwise): the one definition the in-place epilogues share.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Activate(Vector512<float> v, ConvActivation act, Vector512<float> slope) => act switch
    {
        ConvActivation.Relu => Vector512.Max(v, Vector512<float>.Zero),
        ConvActivation.LeakyRelu => Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), v, v * slope),
        _ => v,
    };

    /// <summary>The scalar form of <see cref="Activate(Vector512{float}, ConvActivation, Vector512{float})"/> (tails).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static float Activate(float v, ConvActivation act, float slope) => act switch
    {
        ConvActivation.Relu => v > 0f ? v : 0f,
        ConvActivation.LeakyRelu => v > 0f ? v : v * slope,
        _ => v,
    };

    /// <summary>Applies the epilogue to channels [0, c) of an NCHW block of <paramref name="len"/> pixels at plane offset <paramref name="p"/>.</summary>
    internal static void ApplyImage(float[] y, int img, int c, int hw, int p, int len, float[]? bias, ConvEpilogue ep)
    {
        for (int o = 0; o < c; o++)
            Apply(y.AsSpan((img * c + o) * hw + p, len), bias is not null, bias is null ? 0f : bias[o], ep);
    }

    /// <summary>y = act(y + bias[c]) in place over [n, c, hw]; planes in parallel (elementwise, so chunking cannot change it).</summary>
    public static void BiasActivation(float[] y, float[]? bias, int n, int c, int hw, ConvEpilogue ep)
    {
        if (hw == 1)
        {
            BiasActivationRows(y, bias, n, c, ep);
            return;
        }
        if ((long)n * c * hw < 1 << 16) Planes(0, n * c);
        else CpuParallel.For(n * c, Math.Max(1, 8192 / Math.Max(1, hw)), Planes);

        void Planes(int first, int end)
        {
            for (int plane = first; plane < end; plane++)
                Apply(y.AsSpan(plane * hw, hw), bias is not null, bias is null ? 0f : bias[plane % c], ep);
        }
    }

    /// <summary>
    /// <see cref="BiasActivation"/> for spatial size 1 (a Linear layer's [n, c] rows): per element fl(v + bias[ch]) then
    /// the activation, the vector ops of <see cref="ApplyInline"/> (so the bits of AddChannelBias's row add followed by
    /// the unfused activation) with the bias read as a row vector, instead of a call per one-float plane.
    /// </summary>
    private static void BiasActivationRows(float[] y, float[]? bias, int n, int c, ConvEpilogue ep)
    {
        if (n * c < RowParallelFloats) Rows(0, n);
        else CpuParallel.For(n, Math.Max(1, RowParallelFloats / 2 / Math.Max(1, c)), Rows);

        void Rows(int first, int end)
        {
            for (int r = first; r < end; r++)
            {
                var row = y.AsSpan(r * c, c);
                if (ep.Activation == ConvActivation.Elu || !Vector512.IsHardwareAccelerated)
                {
                    if (bias is not null) TensorPrimitives.Add(row, bias.AsSpan(0, c), row);
                    Apply(row, false, 0f, ep);
                }
                else ApplyRowInline(row, bias, ep);
            }
        }
    }

    /// <summary>
    /// Floats below which the row kernels stay on the calling thread: the passes they replace (the row bias add, ReLU,
    /// its backward, GradCopy) all ran serially at the VAE head's 64K floats, and two parallel chunks there measured
    /// slower than one (StepFusionBench, decoder head 1.24x with them).
    /// </summary>
    private const int RowParallelFloats = 1 << 18;

    /// <summary><see cref="ApplyInline"/> with a per-element bias row (ReLU / LeakyReLU / none).</summary>
    private static void ApplyRowInline(Span<float> row, float[]? bias, ConvEpilogue ep)
    {
        int i = 0, len = row.Length;
        ref float r = ref MemoryMarshal.GetReference(row);
        var act = ep.Activation;
        var s = Vector512.Create(ep.Slope);
        for (; i <= len - 16; i += 16)
        {
            var v = Vector512.LoadUnsafe(ref r, (nuint)i);
            if (bias is not null) v += Vector512.Create(bias.AsSpan(i, 16));
            Activate(v, act, s).StoreUnsafe(ref r, (nuint)i);
        }
        for (; i < len; i++) row[i] = Activate(bias is not null ? row[i] + bias[i] : row[i], act, ep.Slope);
    }

    /// <summary>
    /// dz = act'·dy over [n, c, hw] (overwrites dz) and, with <paramref name="db"/>, db[ch] += Σ dz[·, ch, ·]. Planes run
    /// in parallel in contiguous ranges, each plane's float sum taken while it is in L1; the per-channel total then
    /// adds those plane sums in double in image order — exactly ChannelSum's arithmetic (TensorPrimitives.Sum per plane,
    /// accumulated in double), so the same bits, without ChannelSum's second, channel-strided pass over dz.
    /// </summary>
    public static void Backward(float[] y, float[] dy, float[] dz, float[]? db, int n, int c, int hw, ConvEpilogue ep)
    {
        if (hw == 1)
        {
            // A Linear layer's [n, c] rows: the derivative in long runs (one-float planes made it a call per float),
            // then the bias gradient by ChannelSum's own row kernel, so its arithmetic by construction.
            int len = n * c;
            if (len < RowParallelFloats) Derivative(y.AsSpan(0, len), dy.AsSpan(0, len), dz.AsSpan(0, len), ep);
            else CpuParallel.For(len, RowParallelFloats / 2, (s, e) => Derivative(y.AsSpan(s, e - s), dy.AsSpan(s, e - s), dz.AsSpan(s, e - s), ep));
            if (db is not null) CpuReduce.ChannelSum(dz, db, n, c, 1);
            return;
        }
        int planes = n * c;
        float[]? sums = db is null ? null : System.Buffers.ArrayPool<float>.Shared.Rent(planes);
        try
        {
            if ((long)planes * hw < 1 << 16) Planes(0, planes);
            else CpuParallel.For(planes, Math.Max(1, 8192 / Math.Max(1, hw)), Planes);
            if (db is null) return;
            for (int ch = 0; ch < c; ch++)
            {
                double s = 0;
                for (int i = 0; i < n; i++) s += sums![i * c + ch];
                db[ch] += (float)s;
            }
        }
        finally
        {
            if (sums is not null) System.Buffers.ArrayPool<float>.Shared.Return(sums);
        }

        // Runs of whole planes of about BlockFloats floats: one derivative loop per run (small planes — 16 floats at
        // 4x4 — made a call per plane the cost), then each plane's sum while the run is still in L1. The derivative
        // is elementwise, so the run boundaries cannot change a value.
        void Planes(int first, int end)
        {
            if (sums is not null && SumsInRegisters(hw))
            {
                int o = first * hw, len = (end - first) * hw;
                DerivativeAndSums(y.AsSpan(o, len), dy.AsSpan(o, len), dz.AsSpan(o, len), sums.AsSpan(first, end - first), hw, ep);
                return;
            }
            int run = Math.Max(1, BlockFloats / hw);
            for (int p0 = first; p0 < end; p0 += run)
            {
                int p1 = Math.Min(end, p0 + run), o = p0 * hw, len = (p1 - p0) * hw;
                Derivative(y.AsSpan(o, len), dy.AsSpan(o, len), dz.AsSpan(o, len), ep);
                if (sums is null) continue;
                for (int plane = p0; plane < p1; plane++) sums[plane] = TensorPrimitives.Sum(dz.AsSpan(plane * hw, hw));
            }
        }
    }

    /// <summary>
    /// Floats per derivative run in <see cref="Backward"/>: planes of 256 floats or more keep one call each (longer runs
    /// measured no faster there, and slower in some processes), 16-float planes go 16 to a call.
    /// </summary>
    private const int BlockFloats = 256;

    /// <summary>
    /// Planes of whole 16-float vectors take their sums from the derivative's registers (<see cref="DerivativeAndSums"/>):
    /// TensorPrimitives.Sum on float never aligns (alignment would change how results compound), so its order
    /// depends only on the length and can be repeated exactly. Other lengths keep the library call.
    /// </summary>
    private static bool SumsInRegisters(int hw) => Vector512.IsHardwareAccelerated && hw % 16 == 0;

    /// <summary>
    /// dz = 0 + act'·dy and sums[p] = Σ dz over each plane in one pass: a Sum call per 16-, 64- or 256-float plane cost
    /// about as much as the derivative, and read dz again. The sum repeats TensorPrimitives.Sum's (System.Numerics.Tensors
    /// Aggregate, Vectorized512) arithmetic for a plane of k vectors v0..v(k-1): one accumulator from +0; when k &gt; 8
    /// it first adds v1.. in blocks of 8 while 8 remain after v0, then v0, then the rest in order; when k ≤ 8, v0, v1, …
    /// in order; then Vector512.Sum. (The library's final add of a masked-off tail vector is + (+0): no change, since
    /// an accumulator started at +0 is never -0.) Tested bit for bit against the library call at every plane
    /// offset, EpilogueBackwardSumsTests.
    /// </summary>
    private static void DerivativeAndSums(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dz, Span<float> sums, int hw, ConvEpilogue ep)
    {
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float gr = ref MemoryMarshal.GetReference(dy);
        ref float dr = ref MemoryMarshal.GetReference(dz);
        var act = ep.Activation;
        var s = Vector512.Create(ep.Slope);
        int vectors = hw / 16, blocked = vectors > 8 ? (vectors - 1) / 8 * 8 : 0;
        for (int p = 0; p < sums.Length; p++)
        {
            nuint o = (nuint)(p * hw);
            var first = DerivativeVector(ref yr, ref gr, ref dr, o, act, s);
            var acc = Vector512<float>.Zero;
            int k = 1;
            for (; k <= blocked; k++) acc += DerivativeVector(ref yr, ref gr, ref dr, o + (nuint)(16 * k), act, s);
            acc += first;
            for (; k < vectors; k++) acc += DerivativeVector(ref yr, ref gr, ref dr, o + (nuint)(16 * k), act, s);
            sums[p] = Vector512.Sum(acc);
        }
    }

    /// <summary>dz[i..i+16) = 0 + act'·dy, the vector step of <see cref="Derivative"/>; returns the stored vector.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> DerivativeVector(ref float yr, ref float gr, ref float dr, nuint i, ConvActivation act, Vector512<float> slope)
    {
        var v = Vector512.LoadUnsafe(ref yr, i);
        var g = Vector512.LoadUnsafe(ref gr, i);
        var pos = Vector512.GreaterThan(v, Vector512<float>.Zero);
        var d = act switch
        {
            ConvActivation.Relu => g & pos,
            ConvActivation.LeakyRelu => Vector512.ConditionalSelect(pos, g, g * slope),
            ConvActivation.Elu => Vector512.ConditionalSelect(pos, g, g * (v + Vector512<float>.One)),
            _ => g,
        };
        var z = Vector512<float>.Zero + d;
        z.StoreUnsafe(ref dr, i);
        return z;
    }

    /// <summary>
    /// dz = 0 + act'·dy: the unfused backward adds into a zero-filled gradient, so the same "0 +" keeps even the sign of
    /// zeros identical. ReLU' = [y &gt; 0]; LeakyReLU' = y &gt; 0 ? 1 : slope; ELU' = y &gt; 0 ? 1 : y + 1 (= e^x).
    /// </summary>
    private static void Derivative(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dz, ConvEpilogue ep)
    {
        int i = 0, len = y.Length;
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float gr = ref MemoryMarshal.GetReference(dy);
        ref float dr = ref MemoryMarshal.GetReference(dz);
        var act = ep.Activation;
        float slope = ep.Slope;
        if (Vector512.IsHardwareAccelerated)
        {
            var s = Vector512.Create(slope);
            for (; i <= len - 16; i += 16) DerivativeVector(ref yr, ref gr, ref dr, (nuint)i, act, s);
        }
        for (; i < len; i++)
        {
            float v = y[i], g = dy[i];
            float d = act switch
            {
                ConvActivation.Relu => v > 0f ? g : 0f,
                ConvActivation.LeakyRelu => v > 0f ? g : g * slope,
                ConvActivation.Elu => v > 0f ? g : g * (v + 1f),
                _ => g,
            };
            dz[i] = 0f + d;
        }
    }
}

public sealed partial class CpuBackend
{
    protected override bool Conv2dForwardEpilogueCore(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeom g, ConvEpilogue epilogue)
    {
        CpuConv.Forward(Array(x), Array(w), Array(y), g, bias is null ? null : Array(bias), epilogue);
        return true;
    }

    protected override void BiasActivationCore(Tensor y, Tensor? bias, int n, int c, int hw, ConvEpilogue epilogue)
        => CpuConvEpilogue.BiasActivation(Array(y), bias is null ? null : Array(bias), n, c, hw, epilogue);

    protected override bool ActivationBackwardCore(Tensor y, Tensor dy, Tensor dz, Tensor? dbias, int n, int c, int hw, ConvEpilogue epilogue)
    {
        CpuConvEpilogue.Backward(Array(y), Array(dy), Array(dz), dbias is null ? null : Array(dbias), n, c, hw, epilogue);
        return true;
    }
}
