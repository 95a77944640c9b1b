using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// Convolution forward as an implicit GEMM: <c>y [Cout, N·HWo] = W [Cout, CKK] · col(x)</c> with the column
/// matrix never materialised. Each KC×NR micro-panel of B that <see cref="CpuGemm"/> would pack from col(x)
/// is packed straight from x (im2col and packing in one pass), and the microkernel writes its tiles straight
/// into y (NCHW). The weight is packed once per call instead of once per image chunk.
/// <para>
/// Why: at the small feature maps of the default models the im2col copy, the repack of that copy and the
/// scatter of the GEMM result into NCHW cost as much as the FMAs. This removes all three passes.
/// </para>
/// <para>
/// Same numbers as the im2col path, bit for bit: the same KC blocks, the same microkernel, the same k order per
/// element (the tests compare the two paths exactly). Applies when a micro-panel never straddles two images
/// (HWo a multiple of NR) and AVX2 is there; <see cref="CpuConv.Forward"/> uses the im2col path otherwise, and
/// <see cref="CpuConvPlanes"/> first for strided convs at small maps (where the panels here would be gathered).
/// </para>
/// </summary>
internal static unsafe class CpuConvGemm
{
    /// <summary>Column block of one work item: its packed B (KC × 256 floats, 256 KB) stays in L2.</summary>
    private const int MaxBlockCols = 256;

    [ThreadStatic] private static float[]? _bufB, _tile;

    /// <summary>The NR-wide panel form (also what the weight gradient's implicit GEMM needs): HWo a multiple of NR.</summary>
    public static bool Supports(in ConvGeom g) => Avx2.IsSupported && g.Hout * g.Wout % CpuGemm.NR == 0 && g.Ckk > 0;

    /// <summary>
    /// What <see cref="Forward"/> runs: the NR-wide form, or — for 4x4 and 12x12-style maps whose HWo is a multiple of 16
    /// but not of NR = 32 — 16-wide panels on the 16×16 microkernel (AVX-512), one panel never straddling two images.
    /// Why: the 4x4 convs of the VAE/GAN (the bottleneck stage and the transposed conv's phases) otherwise took the
    /// im2col path — a strided scalar im2col copy, a repack and a scatter per chunk — at a third of the GEMM's speed.
    /// </summary>
    public static bool SupportsForward(in ConvGeom g) => Supports(g) || Narrow(g);

    private static bool Narrow(in ConvGeom g)
        => Avx2.IsSupported && Vector512.IsHardwareAccelerated && CpuGemm.NR == 32 && g.Hout * g.Wout % 16 == 0 && g.Ckk > 0;

    /// <summary>
    /// y = act(conv(x, w) + bias) (overwrite; the epilogue applied to each NR-column panel of y as soon as its last K
    /// block is stored, while it is in L1), or y += conv(x, w) with <paramref name="accumulate"/> (no epilogue).
    /// </summary>
    public static void Forward(float[] x, float[] w, float[] y, ConvGeom g, bool accumulate = false, float[]? bias = null, ConvEpilogue epilogue = default)
    {
        if (accumulate && CpuConvEpilogue.Active(bias, epilogue)) throw new ArgumentException("conv: an epilogue needs the overwrite form");
        int m = g.Cout, k = g.Ckk, hwo = g.Hout * g.Wout, cols = g.N * hwo;
        bool narrow = !Supports(g);
        if (narrow && !Narrow(g)) throw new ArgumentException($"implicit-GEMM conv: unsupported geometry {g}");
        int mr = narrow ? 16 : CpuGemm.MR, nr = narrow ? 16 : CpuGemm.NR, mPad = CpuGemm.RoundUp(m, mr);
        var taps = ConvTaps.Build(g, nr);
        var packedW = ArrayPool<float>.Shared.Rent(mPad * k + 16);
        try
        {
            fixed (float* pw = w, pa0 = packedW, px = x, py = y)
            {
                // 64-byte aligned start (ArrayPool arrays are not pinned, but they stay fixed for this call).
                float* pa = (float*)(((nint)pa0 + 63) & ~(nint)63);
                for (int pc = 0; pc < k; pc += CpuGemm.KC)
                    CpuGemm.PackA(false, pw, k, 0, pc, m, Math.Min(CpuGemm.KC, k - pc), pa + (long)pc * mPad, mr);

                // Enough blocks for every thread twice over when the batch allows; block edges depend only on the shape.
                int threads = CpuParallel.Threads;
                int nc = Math.Clamp(CpuGemm.RoundUp((cols + 2 * threads - 1) / (2 * threads), nr), nr, MaxBlockCols);
                int blocks = (cols + nc - 1) / nc;
                var job = new Job(g, taps, (nint)pa, (nint)px, x.Length, (nint)py, mPad, nc, accumulate, y, bias, epilogue, narrow);
                double flopsPerBlock = g.Flops / blocks;
                CpuParallel.For(blocks, (int)Math.Max(1, 2e6 / Math.Max(1, flopsPerBlock)), (s, e) =>
                {
                    for (int b = s; b < e; b++) job.Run(b);
                });
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packedW);
        }
    }

    private readonly struct Job(ConvGeom g, ConvTaps taps, nint pa, nint px, int xLength, nint py, int mPad, int nc, bool accumulate,
        float[] yArray, float[]? bias, ConvEpilogue epilogue, bool narrow)
    {
        public void Run(int block)
        {
            int m = g.Cout, k = g.Ckk, hwo = g.Hout * g.Wout, cols = g.N * hwo;
            int mr = narrow ? 16 : CpuGemm.MR, nr = narrow ? 16 : CpuGemm.NR;
            int j0 = block * nc, ncols = Math.Min(nc, cols - j0);
            float* pB = CpuGemm.Buffer(ref _bufB, CpuGemm.KC * nc);
            float* tile = CpuGemm.Buffer(ref _tile, mr * nr);
            float* x = (float*)px, y = (float*)py, a = (float*)pa;
            bool epilogueOn = CpuConvEpilogue.Active(bias, epilogue);
            for (int pc = 0; pc < k; pc += CpuGemm.KC)
            {
                int kc = Math.Min(CpuGemm.KC, k - pc);
                int mode = pc == 0 && !accumulate ? CpuGemm.ModeOverwrite : CpuGemm.ModeAccumulate;
                bool lastBlock = pc + kc >= k;
                for (int jp = 0; jp < ncols; jp += nr)
                    taps.Pack(x, xLength, j0 + jp, pc, kc, pB + (long)jp * kc, nr);
                // jp outer, ir inner (as in CpuGemm): one packed kc×NR panel of x stays in L1 while the weight's
                // MR-row panels stream from L2, instead of every panel of x streaming from L2 once per MR rows.
                for (int jp = 0; jp < ncols; jp += nr)
                {
                    int col = j0 + jp, img = col / hwo, p = col - img * hwo;
                    float* bp = pB + (long)jp * kc;
                    for (int ir = 0; ir < m; ir += mr)
                    {
                        int rows = Math.Min(mr, m - ir);
                        float* ap = a + (long)pc * mPad + (long)ir * kc;
                        float* cp = y + ((long)img * m + ir) * hwo + p;
                        if (rows == mr)
                        {
                            CpuGemm.Micro(narrow, kc, ap, bp, cp, hwo, 1f, 0f, mode);
                            continue;
                        }
                        // Edge rows (Cout not a multiple of MR): the same microkernel on a scratch tile.
                        if (mode != CpuGemm.ModeOverwrite)
                        {
                            new Span<float>(tile, mr * nr).Clear();
                            for (int r = 0; r < rows; r++)
                                new ReadOnlySpan<float>(cp + (long)r * hwo, nr).CopyTo(new Span<float>(tile + r * nr, nr));
                        }
                        CpuGemm.Micro(narrow, kc, ap, bp, tile, nr, 1f, 0f, mode);
                        for (int r = 0; r < rows; r++)
                            new ReadOnlySpan<float>(tile + r * nr, nr).CopyTo(new Span<float>(cp + (long)r * hwo, nr));
                    }
                    if (lastBlock && epilogueOn) CpuConvEpilogue.ApplyImage(yArray, img, m, hwo, p, nr, bias, epilogue);
                }
            }
        }
    }
}
