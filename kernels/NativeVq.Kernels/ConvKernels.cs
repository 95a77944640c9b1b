using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Direct convolution kernels (no im2col buffer, no atomics), each thread owns one element of what it writes,
/// so every result is a fixed-order sum. CPU twin: src/NativeVq.Runtime/Cpu/Conv.cs (im2col + GEMM).
/// Tests: tests/NativeVq.Tests/Kernels/ConvParityTests.cs; bench: bench/NativeVq.Bench/ConvBench.cs.
/// </summary>
public static class ConvKernels
{
    /// <summary>One thread per output y[n,o,oi,oj]: Σ_{c,u,v} w[o,c,u,v]·x[n,c,oi·sh−pt+u, oj·sw−pl+v]. Overwrites.</summary>
    public static void Forward(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> y, ConvGeom g)
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
        y[index] = acc;
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
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>? _convForward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>? _convBackwardInput;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>? _convBackwardWeight;

    protected override void Conv2dForwardCore(Tensor x, Tensor w, Tensor y, in ConvGeom g)
    {
        if (g.OutputSize == 0 || (UseTiledGemm && ConvForwardTiled(x, w, null, y, g, GemmTile))) return;
        _convForward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>(ConvKernels.Forward);
        _convForward(g.OutputSize, F(x), F(w), F(y), g);
    }

    /// <summary>On cuda the tiled forward adds the bias in its store (one pass over y instead of two).</summary>
    protected override bool Conv2dForwardBiasCore(Tensor x, Tensor w, Tensor bias, Tensor y, in ConvGeom g)
        => UseTiledGemm && (g.OutputSize == 0 || ConvForwardTiled(x, w, bias, y, g, GemmTile));

    protected override void Conv2dBackwardInputCore(Tensor dy, Tensor w, Tensor dx, in ConvGeom g)
    {
        if (g.InputSize == 0 || (UseTiledGemm && ConvBackwardInputTiled(dy, w, dx, g, GemmTile))) return;
        _convBackwardInput ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>(ConvKernels.BackwardInput);
        _convBackwardInput(g.InputSize, F(dy), F(w), F(dx), g);
    }

    protected override void Conv2dBackwardWeightCore(Tensor x, Tensor dy, Tensor dw, in ConvGeom g)
    {
        if (g.WeightSize == 0 || (UseTiledGemm && ConvBackwardWeightTiled(x, dy, dw, g, GemmTile))) return;
        _convBackwardWeight ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ConvGeom>(ConvKernels.BackwardWeight);
        _convBackwardWeight(g.WeightSize, F(x), F(dy), F(dw), g);
    }
}
