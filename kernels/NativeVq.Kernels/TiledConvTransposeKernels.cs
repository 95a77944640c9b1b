using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// The transposed convolution — conv_transpose2d's forward and, what is the same arithmetic, a strided conv's input
/// gradient — as an implicit GEMM per output phase on <see cref="TileCore"/>. In the geometry of the conv it is the
/// adjoint of (input dx [N, Cin, H, W], output dy [N, Cout, Hout, Wout], weight [Cout, Cin, KH, KW]):
/// dx[n, c, ih, iw] = Σ_(o,u,v) w[o, c, u, v]·dy[n, o, oi, oj] with ih = oi·sh − padTop + u. For a given ih only the
/// taps u ≡ ih + padTop (mod sh) contribute, so the pixels are split into sh·sw phases (rh, rw) = ((ih + padTop) mod sh,
/// (iw + padLeft) mod sw), and each phase is one GEMM over K = Cout·⌈KH/sh⌉·⌈KW/sw⌉ with every k a real tap:
/// <see cref="TiledConvKernels.BackwardInput"/> gathers over all Cout·KH·KW taps and finds 1 − 1/(sh·sw) of them zero
/// (3/4 for the 4x4 stride-2 up-sampling convs of the VQ-VAE decoder and the encoder's input gradients). Neither
/// dy_col nor a zero-inserted dy is built in global memory. At stride 1 it is the same sum as BackwardInput, in the same
/// order. CPU twin: src/NativeVq.Runtime/Cpu/ConvBackwardInputGemm.cs (the per-phase GEMMs). Tests:
/// TiledConvTransposeParityTests; bench: bench/gpu_check.sh (conv stage, conv_transpose).
/// </summary>
public static class TiledConvTransposeKernels
{
    /// <summary>
    /// dx[n, c, pixel] += Σ_k Wᵀ_phase[c, k]·dY_phase[k, q] (+ bias[c] when hasBias is 1, added once to the sum, so on a
    /// zeroed dx it is conv_transpose2d's fl(acc + b)). M = Cin, N = the phase's pixels (q = (a, b), ih = ih0 + sh·a),
    /// K = Cout·TH·TW (k = (o, tu, tv), tap u = rh + sh·tu). Grid: (ceil(⌈H/sh⌉·⌈W/sw⌉/BN), ceil(Cin/BM), N·sh·sw).
    /// </summary>
    [GroupedKernel]
    public static void PhaseGather(ArrayView<float> dy, ArrayView<float> w, ArrayView<float> bias, int hasBias, ArrayView<float> dx, ConvGeom g, TiledGemmKernels.Tile t)
    {
        var @as = SharedMemory.Allocate<float>(TileCore.SharedA);
        var bs = SharedMemory.Allocate<float>(TileCore.SharedB);
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX;
        int row0 = Grid.IdxY * t.BM, col0 = Grid.IdxX * t.BN;
        int phases = g.StrideH * g.StrideW, img = Grid.IdxZ / phases, phase = Grid.IdxZ - img * phases;
        var ph = new Phase(g, phase / g.StrideW, phase - phase / g.StrideW * g.StrideW);
        var acc = default(MicroTile);
        TileCore.Product(ref acc, @as, bs, new PhaseWeights(w, g, ph), true, new PhaseCol(dy, g, ph, img), false, row0, col0, 0, g.Cout * ph.Taps, t);
        acc.Store(new PhaseOutput(dx, g, ph, img, bias, hasBias), row0 + ty, col0 + tx, t.TX, t.TY);
    }

    /// <summary>
    /// One phase (rh, rw): its first pixel (ih0, iw0), its pixel grid Ha×Wa (stride sh, sw), TH×TW taps per pixel
    /// (u = rh + sh·tu), and (bh, bw) with oi = a + bh − tu for the pixel ih0 + sh·a (exact: ih0 + padTop ≡ rh).
    /// </summary>
    internal readonly struct Phase
    {
        public readonly int Rh, Rw, Ih0, Iw0, Ha, Wa, TH, TW, Bh, Bw;

        public Phase(ConvGeom g, int rh, int rw)
        {
            Rh = rh; Rw = rw;
            Ih0 = ((rh - g.PadTop) % g.StrideH + g.StrideH) % g.StrideH;
            Iw0 = ((rw - g.PadLeft) % g.StrideW + g.StrideW) % g.StrideW;
            Ha = g.H > Ih0 ? (g.H - Ih0 + g.StrideH - 1) / g.StrideH : 0;
            Wa = g.W > Iw0 ? (g.W - Iw0 + g.StrideW - 1) / g.StrideW : 0;
            TH = (g.KH + g.StrideH - 1) / g.StrideH;
            TW = (g.KW + g.StrideW - 1) / g.StrideW;
            Bh = (Ih0 + g.PadTop - rh) / g.StrideH;
            Bw = (Iw0 + g.PadLeft - rw) / g.StrideW;
        }

        public int Taps => TH * TW;
    }

    /// <summary>Wᵀ_phase[c, (o, tu, tv)] = w[o, c, rh + sh·tu, rw + sw·tv]; 0 for a tap past the kernel (when s does not divide KH).</summary>
    private readonly struct PhaseWeights(ArrayView<float> w, ConvGeom g, Phase ph) : ITileSource
    {
        public float At(int c, int k)
        {
            int taps = ph.Taps;
            if (c >= g.Cin || k >= g.Cout * taps) return 0f;
            int o = k / taps, r = k - o * taps, tu = r / ph.TW, tv = r - tu * ph.TW;
            int u = ph.Rh + g.StrideH * tu, v = ph.Rw + g.StrideW * tv;
            return u < g.KH && v < g.KW ? w[((o * g.Cin + c) * g.KH + u) * g.KW + v] : 0f;
        }
    }

    /// <summary>dY_phase[(o, tu, tv), (a, b)] = dy[n, o, a + bh − tu, b + bw − tv]; 0 outside dy or past the kernel.</summary>
    private readonly struct PhaseCol(ArrayView<float> dy, ConvGeom g, Phase ph, int n) : ITileSource
    {
        public float At(int q, int k)
        {
            int taps = ph.Taps;
            if (q >= ph.Ha * ph.Wa || k >= g.Cout * taps) return 0f;
            int o = k / taps, r = k - o * taps, tu = r / ph.TW, tv = r - tu * ph.TW;
            if (ph.Rh + g.StrideH * tu >= g.KH || ph.Rw + g.StrideW * tv >= g.KW) return 0f;
            int a = q / ph.Wa, b = q - a * ph.Wa;
            int oi = a + ph.Bh - tu, oj = b + ph.Bw - tv;
            return oi >= 0 && oi < g.Hout && oj >= 0 && oj < g.Wout ? dy[((n * g.Cout + o) * g.Hout + oi) * g.Wout + oj] : 0f;
        }
    }

    /// <summary>dx[n, c, ih0 + sh·a, iw0 + sw·b] += v (+ bias[c]): the phase's pixels scattered back to their places.</summary>
    private readonly struct PhaseOutput(ArrayView<float> dx, ConvGeom g, Phase ph, int n, ArrayView<float> bias, int hasBias) : ITileSink
    {
        public void Put(int c, int q, float v)
        {
            if (c >= g.Cin || q >= ph.Ha * ph.Wa) return;
            int a = q / ph.Wa, b = q - a * ph.Wa;
            int r = ((n * g.Cin + c) * g.H + ph.Ih0 + g.StrideH * a) * g.W + ph.Iw0 + g.StrideW * b;
            dx[r] += hasBias != 0 ? v + bias[c] : v;
        }
    }
}

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>? _convTransposePhase;

    /// <summary>
    /// The per-phase transposed conv: dx += convᵀ(dy, w) (+ bias per input channel of the conv, i.e. conv_transpose2d's
    /// output channel); false (nothing launched) when the grid exceeds the device's limits.
    /// </summary>
    internal bool ConvTransposePhaseTiled(Tensor dy, Tensor w, Tensor? bias, Tensor dx, in ConvGeom g, TiledGemmKernels.Tile t)
    {
        int ha = (g.H + g.StrideH - 1) / g.StrideH, wa = (g.W + g.StrideW - 1) / g.StrideW;
        var grid = new Index3D((ha * wa + t.BN - 1) / t.BN, (g.Cin + t.BM - 1) / t.BM, g.N * g.StrideH * g.StrideW);
        if (!FitsGrid(grid, t)) return false;
        if (g.InputSize == 0) return true;
        _convTransposePhase ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, ArrayView<float>, ConvGeom, TiledGemmKernels.Tile>(TiledConvTransposeKernels.PhaseGather);
        // Without a bias the kernel never reads that argument; dx's view stands in for it.
        _convTransposePhase(new KernelConfig(grid, new Index3D(t.Threads, 1, 1)), F(dy), F(w), bias is null ? F(dx) : F(bias), bias is null ? 0 : 1, F(dx), g, t);
        return true;
    }

    /// <summary>On cuda conv_transpose2d adds its bias in the per-phase kernel's store (one pass over y instead of two).</summary>
    protected override bool ConvTranspose2dBiasCore(Tensor x, Tensor w, Tensor bias, Tensor y, in ConvGeom g)
        => UseTiledGemm && (g.InputSize == 0 || ConvTransposePhaseTiled(x, w, bias, y, g, GemmTile));
}
