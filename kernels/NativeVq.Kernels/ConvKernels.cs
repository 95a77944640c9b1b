using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Direct convolution kernels (no im2col buffer, no atomics), each thread owns one element of what it writes,
/// so every result is a fixed-order sum. CPU twin: src/NativeVq.Runtime/Cpu/Conv.cs (im2col + GEMM).
/// Tests: tests/NativeVq.Tests/Kernels/ConvParityTests.cs; bench: bench/NativeVq.Bench/ConvBench.cs.
/// </summary>
public static class ConvKernels
{
    /// <summary>
    /// One thread per output y[n,o,oi,oj] = act(Σ_{c,u,v} w[o,c,u,v]·x[n,c,oi·sh−pt+u, oj·sw−pl+v] (+ bias[o] when
    /// hasBias)): the sum, then the epilogue (<see cref="Activate"/>) in the store. Overwrites.
    /// </summary>
    public static void Forward(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, int hasBias, int act, float slope, ArrayView<float> y, ConvGeom g)
    {
        int oj = index % g.Wout, t = index / g.Wout;
        int oi = t % g.Hout; t /= g.Hout;
        int o = t % g.Cout, n = t / g.Cout;
        int ih0 = oi * g.StrideH - g.PadTop, iw0 = oj * g.StrideW - g.PadLeft;
        float acc = 0f;
        for (int c = 0; c < g.Cin; c++)
        {
            int xc = (n * g.Cin + c) * g.H, wc = (o * g.Cin + c) * g.KH;
            for (int u = 0; u < g.KH; u++)
            {
                int ih = ih0 + u;
                if (ih < 0 || ih >= g.H) continue;
                int xr = (xc + ih) * g.W, wr = (wc + u) * g.KW;
                for (int v = 0; v < g.KW; v++)
                {
                    int iw = iw0 + v;
                    if (iw >= 0 && iw < g.W) acc += w[wr + v] * x[xr + iw];
                }
            }
        }
        y[index] = Activate(hasBias != 0 ? acc + bias[o] : acc, act, slope);
    }

    /// <summary>
    /// The conv epilogue's activation by code (<see cref="ConvEpilogue.Code"/>): 0 none, 1 ReLU, 2 LeakyReLU(slope),
    /// 3 ELU — the formulas of ElementwiseKernels and LeakyReluKernels, so fused equals unfused.
    /// </summary>
    internal static float Activate(float v, int act, float slope)
    {
        if (act == 1) return v > 0f ? v : 0f;
        if (act == 2) return v > 0f ? v : v * slope;
        if (act == 3) return v > 0f ? v : XMath.Exp(v) - 1f;
        return v;
    }

    /// <summary>y[i] = act(y[i] + bias[(i / hw) % c]) in place (bias read only when hasBias): the epilogue as its own pass.</summary>
    public static void BiasActivation(Index1D i, ArrayView<float> y, ArrayView<float> bias, int hasBias, int c, int hw, int act, float slope)
    {
        float v = y[i];
        y[i] = Activate(hasBias != 0 ? v + bias[(i / hw) % c] : v, act, slope);
    }

    /// <summary>dz[i] = 0 + act'·dy[i] with the derivative read from the epilogue's output y (CPU twin: CpuConvEpilogue.Backward).</summary>
    public static void ActivationBackward(Index1D i, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dz, int act, float slope)
    {
        float v = y[i], g = dy[i];
        float d = g;
        if (act == 1) d = v > 0f ? g : 0f;
        else if (act == 2) d = v > 0f ? g : g * slope;
        else if (act == 3) d = v > 0f ? g : g * (v + 1f);
        dz[i] = 0f + d;
    }

    /// <summary>
    /// One thread per input element dx[n,c,ih,iw] (gather form of the transposed conv): sums dy[n,o,oi,oj]·w[o,c,u,v]
    /// over the taps with oi·sh = ih + pt − u (exactly divisible, 0 ≤ oi &lt; Hout), likewise for columns. Accumulates.
    /// </summary>
    public static void BackwardInput(Index1D index, ArrayView<float> dy, ArrayView<float> w, ArrayView<float> dx, ConvGeom g)
    {
        int iw = index % g.W, t = index / g.W;
        int ih = t % g.H; t /= g.H;
        int c = t % g.Cin, n = t / g.Cin;
        float acc = 0f;
        for (int u = 0; u < g.KH; u++)
        {
            int ti = ih + g.PadTop - u;
            if (ti < 0 || ti % g.StrideH != 0) continue;
            int oi = ti / g.StrideH;
            if (oi >= g.Hout) continue;
            for (int v = 0; v < g.KW; v++)
            {
                int tj = iw + g.PadLeft - v;
                if (tj < 0 || tj % g.StrideW != 0) continue;
                int oj = tj / g.StrideW;
                if (oj >= g.Wout) continue;
                for (int o = 0; o < g.Cout; o++)
                    acc += dy[((n * g.Cout + o) * g.Hout + oi) * g.Wout + oj] * w[((o * g.Cin + c) * g.KH + u) * g.KW + v];
            }
        }
        dx[index] += acc;
    }

    /// <summary>One thread per weight dw[o,c,u,v]: Σ_{n,oi,oj} dy[n,o,oi,oj]·x[n,c,oi·sh−pt+u, oj·sw−pl+v]. Accumulates.</summary>
    public static void BackwardWeight(Index1D index, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dw, ConvGeom g)
    {
        int v = index % g.KW, t = index / g.KW;
        int u = t % g.KH; t /= g.KH;
        int c = t % g.Cin, o = t / g.Cin;
        float acc = 0f;
        for (int n = 0; n < g.N; n++)
        {
            int xc = (n * g.Cin + c) * g.H, yo = (n * g.Cout + o) * g.Hout;
            for (int oi = 0; oi < g.Hout; oi++)
            {
                int ih = oi * g.StrideH - g.PadTop + u;
                if (ih < 0 || ih >= g.H) continue;
                int xr = (xc + ih) * g.W, yr = (yo + oi) * g.Wout;
                for (int oj = 0; oj < g.Wout; oj++)
                {
                    int iw = oj * g.StrideW - g.PadLeft + v;
                    if (iw >= 0 && iw < g.W) acc += dy[yr + oj] * x[xr + iw];
                }
            }
        }
        dw[index] += acc;
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, ArrayView<float>, ConvGeom>? _convForward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, float>? _biasActivation;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>? _activationBackward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>? _convBackwardInput;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>? _convBackwardWeight;

    protected override void Conv2dForwardCore(Tensor x, Tensor w, Tensor y, in ConvGeom g)
        => ConvForwardEpilogue(x, w, null, y, g, ConvEpilogue.None);

    /// <summary>Both conv kernels (tiled on cuda, direct otherwise) add the bias and apply the activation in their store.</summary>
    protected override bool Conv2dForwardEpilogueCore(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeom g, ConvEpilogue epilogue)
    {
        ConvForwardEpilogue(x, w, bias, y, g, epilogue);
        return true;
    }

    private void ConvForwardEpilogue(Tensor x, Tensor w, Tensor? bias, Tensor y, in ConvGeom g, ConvEpilogue epilogue)
    {
        if (g.OutputSize == 0 || (UseTiledGemm && ConvForwardTiled(x, w, bias, y, g, GemmTile, epilogue))) return;
        _convForward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, ArrayView<float>, ConvGeom>(ConvKernels.Forward);
        // Without a bias the kernel never reads that argument; y's view stands in for it.
        _convForward(g.OutputSize, F(x), F(w), bias is null ? F(y) : F(bias), bias is null ? 0 : 1, epilogue.Code, epilogue.Slope, F(y), g);
    }

    protected override void BiasActivationCore(Tensor y, Tensor? bias, int n, int c, int hw, ConvEpilogue epilogue)
    {
        if (y.Numel == 0) return;
        _biasActivation ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, float>(ConvKernels.BiasActivation);
        _biasActivation(y.Numel, F(y), bias is null ? F(y) : F(bias), bias is null ? 0 : 1, c, hw, epilogue.Code, epilogue.Slope);
    }

    /// <summary>dz = act'·dy elementwise; the bias gradient is left to ChannelSum (its grouped kernel is already one pass).</summary>
    protected override bool ActivationBackwardCore(Tensor y, Tensor dy, Tensor dz, Tensor? dbias, int n, int c, int hw, ConvEpilogue epilogue)
    {
        if (y.Numel == 0) return false;
        _activationBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(ConvKernels.ActivationBackward);
        _activationBackward(y.Numel, F(y), F(dy), F(dz), epilogue.Code, epilogue.Slope);
        return false;
    }

    protected override void Conv2dBackwardInputCore(Tensor dy, Tensor w, Tensor dx, in ConvGeom g)
    {
        if (g.InputSize == 0 || (UseTiledGemm && ConvBackwardInputTiledPath(dy, w, dx, g))) return;
        _convBackwardInput ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>(ConvKernels.BackwardInput);
        _convBackwardInput(g.InputSize, F(dy), F(w), F(dx), g);
    }

    /// <summary>A strided conv's input gradient per output phase (every gathered tap real), a stride-1 one as one implicit GEMM.</summary>
    private bool ConvBackwardInputTiledPath(Tensor dy, Tensor w, Tensor dx, in ConvGeom g)
        => g.StrideH * g.StrideW > 1 ? ConvTransposePhaseTiled(dy, w, null, dx, g, GemmTile) : ConvBackwardInputTiled(dy, w, dx, g, GemmTile);

    protected override void Conv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor dw, in ConvGeom g)
    {
        if (g.WeightSize == 0 || (UseTiledGemm && ConvBackwardWeightTiled(x, dy, dw, g, GemmTile))) return;
        _convBackwardWeight ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>(ConvKernels.BackwardWeight);
        _convBackwardWeight(g.WeightSize, F(x), F(dy), F(dw), g);
    }
}
