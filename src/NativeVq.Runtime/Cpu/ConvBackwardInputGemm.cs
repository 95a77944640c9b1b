using System.Buffers;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// dx += convᵀ(dy, w) (the input gradient, and conv_transpose2d's forward) as stride-1 convolutions of dy run by
/// the implicit GEMM, one per output phase: the dx pixels with ih ≡ a (mod sh), iw ≡ b (mod sw) only ever meet
/// the taps u ≡ (a + padTop) (mod sh), v ≡ (b + padLeft) (mod sw), and over those taps the transposed conv is
/// an ordinary correlation of dy with the flipped sub-kernel. Stride 1 is one phase accumulated straight into
/// dx; stride 2 is four phases written to a scratch buffer and interleaved into dx.
/// <para>
/// Why: the im2col form (col = Wᵀ·dy, then col2im) writes and re-reads a column matrix KH·KW times the size of
/// dx and scatters it with strided scalar adds; here dy is packed straight into GEMM panels and each dx
/// element is written once per phase.
/// </para>
/// Returns false (caller uses col2im) when the shape does not fit: fewer than MR input channels (the GEMM rows
/// would be mostly padding), a phase map whose pixel count is not a multiple of NR, or padding ≥ the kernel.
/// </summary>
internal static class CpuConvBackwardInputGemm
{
    private readonly record struct Phase(int A, int B, ConvGeom Geom, int U0, int V0);

    /// <summary>
    /// The k4 s2 p1 halving conv takes its one-pass kernel (ConvBackwardInputK4S2.cs: any map size, any Cin), other
    /// shapes the per-phase GEMMs below when they fit; false: the caller uses col2im.
    /// </summary>
    public static bool TryRun(float[] dy, float[] w, float[] dx, in ConvGeom g)
    {
        if (CpuConvBackwardInputK4S2.Supports(g))
        {
            CpuConvBackwardInputK4S2.Run(dy, w, dx, g);
            return true;
        }
        return TryRunPhases(dy, w, dx, g);
    }

    /// <summary>One implicit-GEMM conv per phase (also the bit-for-bit reference of the k4 s2 p1 kernel's wide form).</summary>
    internal static bool TryRunPhases(float[] dy, float[] w, float[] dx, in ConvGeom g)
    {
        if (!Avx2.IsSupported || g.Cin < CpuGemm.MR) return false;
        var phases = Plan(g);
        if (phases is null) return false;
        bool direct = g.StrideH == 1 && g.StrideW == 1;
        foreach (var p in phases)
        {
            var pg = p.Geom;
            var wp = ArrayPool<float>.Shared.Rent(pg.WeightSize);
            var scratch = direct ? null : ArrayPool<float>.Shared.Rent(pg.OutputSize);
            try
            {
                FlippedSubKernel(w, g, p, wp);
                if (direct) CpuConvGemm.Forward(dy, wp, dx, pg, accumulate: true);
                else
                {
                    CpuConvGemm.Forward(dy, wp, scratch!, pg);
                    Interleave(scratch!, dx, g, p);
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(wp);
                if (scratch is not null) ArrayPool<float>.Shared.Return(scratch);
            }
        }
        return true;
    }

    /// <summary>The phase convolutions, or null when one of them does not fit the implicit GEMM.</summary>
    private static List<Phase>? Plan(in ConvGeom g)
    {
        var phases = new List<Phase>();
        for (int a = 0; a < Math.Min(g.StrideH, g.H); a++)
            for (int b = 0; b < Math.Min(g.StrideW, g.W); b++)
            {
                int u0 = (a + g.PadTop) % g.StrideH, v0 = (b + g.PadLeft) % g.StrideW;
                int mh = u0 < g.KH ? (g.KH - u0 + g.StrideH - 1) / g.StrideH : 0;
                int nw = v0 < g.KW ? (g.KW - v0 + g.StrideW - 1) / g.StrideW : 0;
                if (mh == 0 || nw == 0) continue; // no tap reaches these pixels: they receive nothing
                int e = (a + g.PadTop - u0) / g.StrideH, f = (b + g.PadLeft - v0) / g.StrideW;
                int ha = (g.H - a + g.StrideH - 1) / g.StrideH, wa = (g.W - b + g.StrideW - 1) / g.StrideW;
                // Output pixel i of the phase reads dy row i + e − m for sub-tap m: a correlation with pad mh − 1 − e.
                var pg = new ConvGeom(g.N, g.Cout, g.Hout, g.Wout, g.Cin, mh, nw, 1, 1, mh - 1 - e, nw - 1 - f, ha, wa);
                // NR-wide phases only: 4x4 phases on the 16-wide panels measured no faster than col2im (bench conv_small).
                if (pg.PadTop < 0 || pg.PadLeft < 0 || !CpuConvGemm.Supports(pg)) return null;
                phases.Add(new Phase(a, b, pg, u0, v0));
            }
        return phases;
    }

    /// <summary>wp[c, o, m, n] = w[o, c, u0 + sh·(Mh−1−m), v0 + sw·(Nw−1−n)]: the phase's taps, flipped, channels swapped.</summary>
    private static void FlippedSubKernel(float[] w, in ConvGeom g, in Phase p, float[] wp)
    {
        int mh = p.Geom.KH, nw = p.Geom.KW;
        for (int c = 0; c < g.Cin; c++)
            for (int o = 0; o < g.Cout; o++)
                for (int m = 0; m < mh; m++)
                {
                    int u = p.U0 + g.StrideH * (mh - 1 - m);
                    for (int n = 0; n < nw; n++)
                        wp[((c * g.Cout + o) * mh + m) * nw + n] = w[((o * g.Cin + c) * g.KH + u) * g.KW + p.V0 + g.StrideW * (nw - 1 - n)];
                }
    }

    /// <summary>dx[n, c, a + sh·i, b + sw·j] += phase[n, c, i, j], planes in parallel (each written by one thread).</summary>
    private static void Interleave(float[] phase, float[] dx, ConvGeom g, Phase p)
    {
        int ha = p.Geom.Hout, wa = p.Geom.Wout, hw = g.H * g.W, planes = g.N * g.Cin;
        CpuParallel.For(planes, Math.Max(1, 16384 / (ha * wa)), (s, e) =>
        {
            for (int plane = s; plane < e; plane++)
            {
                int src = plane * ha * wa;
                for (int i = 0; i < ha; i++)
                {
                    int d = plane * hw + (p.A + g.StrideH * i) * g.W + p.B;
                    for (int j = 0; j < wa; j++, d += g.StrideW) dx[d] += phase[src++];
                }
            }
        });
    }
}
