using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace NativeVq.Cpu;

/// <summary>
/// CPU SGEMM (twin of kernels/NativeVq.Kernels/GemmKernels.cs), Goto/BLIS style:
/// the K dimension is cut into KC blocks, N into NC blocks, M into MC blocks; each block of op(B) (KC×NC) and
/// op(A) (MC×KC) is packed into contiguous, zero-padded micro-panels (transposes are resolved while packing),
/// and a register-blocked microkernel computes an MR×NR tile of C with FMAs
/// (8×32 with Vector512 when AVX-512 is accelerated, otherwise 6×16 with Vector256).
/// <para>
/// Determinism: every C element is summed in one fixed order — k ascending inside a KC block (one FMA chain in
/// one register lane), KC blocks added to C in ascending order with a fixed formula. Tiles on the matrix edge
/// run the very same vector code on a scratch tile, and zero padding never touches a valid element, so the
/// value of an element does not depend on where tile/thread boundaries fall. Threads only split C (by batch,
/// rows or columns), or K in whole KC blocks whose raw sums are added to C in block order afterwards (<see cref="KSplit"/>):
/// results are bit-identical run to run and with <c>parallel: false</c>.
/// </para>
/// <para>
/// Loop order per (NC, KC) block: pack B, then per MC rows pack A, then jr (NR columns) outer and ir (MR rows)
/// inner, so one KC×NR panel of B stays in L1 while A's panels stream from L2. A single large matrix split by
/// rows packs B once, shared by all threads (<see cref="SharedB"/>), instead of once per part.
/// </para>
/// </summary>
public static unsafe partial class CpuGemm
{
    internal const int KC = 256;
    private const int MC = 240;   // a multiple of every MR (6, 8, 16): the A block (MC×KC, 240 KB) stays in L2
    private const int NC = 1024;

    /// <summary>Below this many flops per call the whole call runs on the calling thread.</summary>
    private const double SerialFlops = 4e6;
    /// <summary>A single matrix is split between threads only when each part keeps at least this many flops.</summary>
    private const double SplitFlops = 2e6;

    private static readonly bool Use512 = Vector512.IsHardwareAccelerated;
    internal static readonly int MR = Use512 ? 8 : 6;
    internal static readonly int NR = Use512 ? 32 : 16;

    /// <summary>Per-thread packing buffers (pinned, 64-byte aligned), reused across calls: steady state allocates nothing.</summary>
    [ThreadStatic] private static float[]? _bufA, _bufB;
    [ThreadStatic] private static float[]? _tile;
    /// <summary>The calling thread's packed B block in <see cref="SharedB"/>, read by every worker.</summary>
    [ThreadStatic] private static float[]? _sharedB;

    /// <summary>
    /// C_i = Alpha·op(A_i)·op(B_i) + Beta·C_i for each batch i (see <see cref="GemmSpec"/>). Beta = 0 never reads C.
    /// <paramref name="parallel"/> = false keeps all work on the calling thread (for callers already inside a
    /// parallel loop); the result is bit-identical either way.
    /// </summary>
    public static void Sgemm(in GemmSpec s, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, bool parallel = true)
        => Run(s, a, b, c, parallel, kSplit: true, inline: false);

    /// <summary>Sgemm without the K split (<see cref="KSplit"/>): the form it replaces, for tests and benches.</summary>
    internal static void SgemmBlocked(in GemmSpec s, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, bool parallel = true)
        => Run(s, a, b, c, parallel, kSplit: false, inline: false);

    /// <summary>
    /// The parts a parallel call would share between threads, run one after another on the calling thread: the work
    /// of a decomposition without the launch and the scheduling noise of a loaded machine (benches), or its bits (tests).
    /// </summary>
    internal static void SgemmPartsInline(in GemmSpec s, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, bool kSplit)
        => Run(s, a, b, c, parallel: true, kSplit, inline: true);

    private static void Run(in GemmSpec s, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, bool parallel, bool kSplit, bool inline)
    {
        int m = s.M, n = s.N, k = s.K, batch = s.Batch;
        if (m < 0 || n < 0 || k < 0 || batch < 0) throw new ArgumentException($"negative GEMM size in {s}");
        if (m == 0 || n == 0 || batch == 0) return;
        Need(c.Length, batch, s.StrideC, (long)m * n, "C");
        if (k > 0)
        {
            Need(a.Length, batch, s.StrideA, (long)m * k, "A");
            Need(b.Length, batch, s.StrideB, (long)k * n, "B");
        }

        var plan = PlanFor(s, parallel, kSplit, CpuParallel.Threads);
        fixed (float* pa = a, pb = b, pc = c)
        {
            var job = new Job(s, pa, pb, pc);
            switch (plan.Path)
            {
                case GemmPath.Serial:
                    for (int i = 0; i < batch; i++) job.Run(i, 0, 1);
                    break;
                case GemmPath.KSplit:
                    KSplit(s, pa, pb, pc, plan.Parts, inline);
                    break;
                case GemmPath.SharedB:
                    SharedB(s, pa, pb, pc, inline);
                    break;
                default:
                    job.Splits = plan.Parts;
                    RunParallel(job, batch * plan.Parts, 2.0 * m * n * k / plan.Parts, inline);
                    break;
            }
        }
    }

    internal enum GemmPath { Serial, Parts, SharedB, KSplit }

    /// <summary>Parts split C by rows when it is at least as tall as wide, else by columns.</summary>
    private static bool SplitsRows(in GemmSpec s) => s.M >= s.N;

    /// <summary>How a call runs: <see cref="GemmPath.Parts"/> = (batch, part) items, each a fixed slice of rows or columns of one C.</summary>
    internal readonly record struct GemmPlan(GemmPath Path, int Parts);

    /// <summary>The decomposition of a call on <paramref name="threads"/> threads (a function of the shapes only, never of timing).</summary>
    internal static GemmPlan PlanFor(in GemmSpec s, bool parallel, bool kSplit, int threads)
    {
        int m = s.M, n = s.N, k = s.K, batch = s.Batch;
        double flopsPer = 2.0 * m * n * k;
        if (!parallel || threads <= 1 || flopsPer * batch < SerialFlops) return new(GemmPath.Serial, 1);
        bool splitRows = SplitsRows(s);
        int splits = 1;
        if (batch < 2 * threads)
        {
            splits = (2 * threads + batch - 1) / batch;
            splits = (int)Math.Min(splits, Math.Max(1.0, flopsPer / SplitFlops));
            int maxSplits = splitRows ? (m + MR - 1) / MR : (n + NR - 1) / NR;
            splits = Math.Max(1, Math.Min(splits, maxSplits));
        }
        if (kSplit && batch == 1 && splits > 1 && k > 0 && KSplitPays(m, n, k, splits, splitRows, threads, out int parts))
            return new(GemmPath.KSplit, parts);
        if (batch == 1 && splits > 1 && k > 0 && splitRows && SharedBPays(m, n, k, splits)) return new(GemmPath.SharedB, splits);
        return new(GemmPath.Parts, splits);
    }

    /// <summary>
    /// Whether sharing one packed B (<see cref="SharedB"/>) beats the row-split parts packing B each: it saves
    /// (splits − 1)·n·k packed floats but costs two parallel launches per (NC, KC) block of B instead of one launch in
    /// all. A Linear layer's 64×32×1024 GEMM has four K blocks: eight launches for 2·32K floats of packing saved. Both
    /// forms run the same FMA chain per element, so the choice never changes a result.
    /// </summary>
    private static bool SharedBPays(int m, int n, int k, int splits)
    {
        long blocks = (long)((n + NC - 1) / NC) * ((k + KC - 1) / KC);
        return (long)(splits - 1) * n * k > (2 * blocks - 1) * LaunchFloats;
    }

    /// <summary>What one parallel launch costs, in floats packed in the same time (≈ 5 µs; bench step_overhead "parallel_for_empty_ms").</summary>
    private const long LaunchFloats = 16 * 1024;

    /// <summary>Fixed chunking of the (batch, part) items: which thread runs an item never changes its result.</summary>
    private static void RunParallel(Job job, int items, double flopsPerItem, bool inline)
    {
        int grain = (int)Math.Max(1, Math.Min(items, SplitFlops / Math.Max(1.0, flopsPerItem)));
        For(inline, items, grain, (start, end) =>
        {
            for (int t = start; t < end; t++) job.Run(t / job.Splits, t % job.Splits, job.Splits);
        });
    }

    /// <summary>CpuParallel.For, or (<paramref name="inline"/>) all chunks on the calling thread in order.</summary>
    private static void For(bool inline, int n, int grain, Action<int, int> body)
    {
        if (inline) body(0, n);
        else CpuParallel.For(n, grain, body);
    }

    private static void Need(int length, int batch, int stride, long size, string name)
    {
        long need = (long)(batch - 1) * stride + size;
        if (stride < 0 || length < need) throw new ArgumentException($"GEMM operand {name} has {length} elements, needs {need}");
    }

    /// <summary>The call's operands as raw pointers (captured by the parallel body; spans cannot be).</summary>
    private struct Job(in GemmSpec s, float* a, float* b, float* c)
    {
        private readonly GemmSpec _s = s;
        private readonly nint _a = (nint)a, _b = (nint)b, _c = (nint)c;
        public int Splits = 1;
        public readonly bool SplitRows => SplitsRows(_s);

        /// <summary>Computes part <paramref name="part"/> of <paramref name="parts"/> of batch item <paramref name="bi"/>.</summary>
        public readonly void Run(int bi, int part, int parts)
        {
            var s = _s;
            float* a = (float*)_a + (long)bi * s.StrideA, b = (float*)_b + (long)bi * s.StrideB, c = (float*)_c + (long)bi * s.StrideC;
            int lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N, ldc = s.N;
            int m = s.M, n = s.N;
            if (parts > 1)
            {
                if (SplitRows)
                {
                    int step = ((m + parts - 1) / parts + MR - 1) / MR * MR;
                    int r0 = Math.Min(m, part * step), r1 = Math.Min(m, r0 + step);
                    if (r1 <= r0) return;
                    a += s.TransA ? r0 : (long)r0 * lda;
                    c += (long)r0 * ldc;
                    m = r1 - r0;
                }
                else
                {
                    int step = ((n + parts - 1) / parts + NR - 1) / NR * NR;
                    int c0 = Math.Min(n, part * step), c1 = Math.Min(n, c0 + step);
                    if (c1 <= c0) return;
                    b += s.TransB ? (long)c0 * ldb : c0;
                    c += c0;
                    n = c1 - c0;
                }
            }
            Serial(s.TransA, s.TransB, m, n, s.K, s.Alpha, s.Beta, a, lda, b, ldb, c, ldc);
        }
    }

    /// <summary>Single-threaded blocked GEMM on one (sub)matrix with explicit leading dimensions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Serial(bool transA, bool transB, int m, int n, int k, float alpha, float beta,
        float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        if (k == 0)
        {
            ScaleOnly(m, n, beta, c, ldc);
            return;
        }
        var t = Tiling.For(m, n);
        int kcMax = Math.Min(k, KC);
        float* pB = Buffer(ref _bufB, Math.Min(RoundUp(n, t.Nr), NC) * kcMax);
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                PackB(transB, b, ldb, pc, jc, kc, nc, pB, t.Nr);
                RowBlocks(t, transA, a, lda, 0, m, pc, kc, pB, nc, c + jc, ldc, alpha, beta, BlockMode(pc, beta));
            }
        }
    }

    /// <summary>
    /// One C matrix on all threads with op(B) packed once and shared: for each (NC, KC) block the threads pack
    /// disjoint panels of B, then each computes a fixed band of rows (packing its own rows of A). Row-split jobs
    /// otherwise pack all of B once per part; this is the same arithmetic, so the same bits.
    /// </summary>
    private static void SharedB(in GemmSpec s, float* a, float* b, float* c, bool inline)
    {
        int m = s.M, n = s.N, k = s.K, lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N, ldc = s.N;
        bool transA = s.TransA, transB = s.TransB;
        float alpha = s.Alpha, beta = s.Beta;
        var t = Tiling.For(m, n);
        int threads = CpuParallel.Threads;
        // Bands of whole MR-row panels, two per thread so an unlucky thread does not hold up the others long.
        int band = Math.Max(t.Mr, RoundUp((m + 2 * threads - 1) / (2 * threads), t.Mr));
        int bands = (m + band - 1) / band;
        nint pB = (nint)Buffer(ref _sharedB, Math.Min(RoundUp(n, t.Nr), NC) * Math.Min(k, KC));
        nint pa = (nint)a, pb = (nint)b, pcp = (nint)c;
        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc), panels = (nc + t.Nr - 1) / t.Nr;
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc), j0 = jc, k0 = pc, mode = BlockMode(pc, beta);
                For(inline, panels, Math.Max(1, panels / threads), (p0, p1) =>
                {
                    int c0 = p0 * t.Nr, c1 = Math.Min(nc, p1 * t.Nr);
                    PackB(transB, (float*)pb, ldb, k0, j0 + c0, kc, c1 - c0, (float*)pB + (long)c0 * kc, t.Nr);
                });
                For(inline, bands, 1, (i0, i1) =>
                {
                    for (int i = i0; i < i1; i++)
                        RowBlocks(t, transA, (float*)pa, lda, i * band, Math.Min(m, (i + 1) * band), k0, kc,
                            (float*)pB, nc, (float*)pcp + j0, ldc, alpha, beta, mode);
                });
            }
        }
    }

    private static int BlockMode(int pc, float beta) => pc > 0 ? ModeAccumulate : beta == 0f ? ModeOverwrite : ModeScale;

    private static void ScaleOnly(int m, int n, float beta, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0f) row.Clear();
            else for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    /// <summary>The microkernel a call uses: its tile (MR×NR) and which kernel computes it.</summary>
    private readonly record struct Tiling(int Kind, int Mr, int Nr)
    {
        public const int K8x32 = 0, K16x16 = 1, K6x16 = 2;

        /// <summary>
        /// Narrow C (N ≤ 16, e.g. attention·V with a 16-wide head): 16×16 wastes no columns; otherwise 8×32
        /// (a 12×32 kernel, 24 zmm accumulators, measured 7 % slower on Zen 5 at 384×512×512: with KC = 256 its
        /// A panel plus the 32 KB B panel nearly fill the 48 KB L1; see docs/kernels.md). Every kernel runs the same
        /// FMA chain per element, so the choice never changes a result.
        /// </summary>
        public static Tiling For(int m, int n)
        {
            if (!Use512) return new(K6x16, 6, 16);
            if (n <= 16) return new(K16x16, 16, 16);
            return new(K8x32, 8, 32);
        }
    }

    /// <summary>
    /// Rows [r0, r1) of C[:, 0..nc) (mode as in <see cref="Store512(float*, Vector512{float}, Vector512{float}, int, Vector512{float})"/>)
    /// from op(A)[r0..r1, k0..k0+kc] and the packed kc×nc block of B: A is packed MC rows at a time (L2), then
    /// jr outer, ir inner (BLIS order), so one kc×NR panel of B stays in L1 while A's MR-row panels stream.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowBlocks(Tiling t, bool transA, float* a, int lda, int r0, int r1, int k0, int kc,
        float* pB, int nc, float* c, int ldc, float alpha, float beta, int mode)
    {
        int mr = t.Mr, nr = t.Nr, mcStep = MC / mr * mr;
        float* pA = Buffer(ref _bufA, Math.Min(RoundUp(r1 - r0, mr), mcStep) * kc);
        float* tile = Buffer(ref _tile, mr * nr);
        for (int ic = r0; ic < r1; ic += mcStep)
        {
            int mc = Math.Min(mcStep, r1 - ic);
            PackA(transA, a, lda, ic, k0, mc, kc, pA, mr);
            for (int jr = 0; jr < nc; jr += nr)
            {
                int cols = Math.Min(nr, nc - jr);
                float* bp = pB + (long)jr * kc;
                for (int ir = 0; ir < mc; ir += mr)
                {
                    int rows = Math.Min(mr, mc - ir);
                    float* ap = pA + (long)ir * kc;
                    float* cp = c + (long)(ic + ir) * ldc + jr;
                    if (rows == mr && cols == nr)
                    {
                        Micro(t.Kind, kc, ap, bp, cp, ldc, alpha, beta, mode);
                        continue;
                    }
                    // Edge tile: the same microkernel on a scratch tile holding the valid part of C.
                    if (mode != ModeOverwrite)
                    {
                        new Span<float>(tile, mr * nr).Clear();
                        for (int r = 0; r < rows; r++)
                            new ReadOnlySpan<float>(cp + (long)r * ldc, cols).CopyTo(new Span<float>(tile + r * nr, cols));
                    }
                    Micro(t.Kind, kc, ap, bp, tile, nr, alpha, beta, mode);
                    for (int r = 0; r < rows; r++)
                        new ReadOnlySpan<float>(tile + r * nr, cols).CopyTo(new Span<float>(cp + (long)r * ldc, cols));
                }
            }
        }
    }

    internal const int ModeOverwrite = 0, ModeScale = 1, ModeAccumulate = 2;

    internal static int RoundUp(int x, int m) => (x + m - 1) / m * m;

    internal static float* Buffer(ref float[]? buf, int floats)
    {
        if (buf == null || buf.Length < floats + 16)
            buf = GC.AllocateUninitializedArray<float>(floats + 16, pinned: true);
        // Pinned (POH) arrays never move: the aligned address stays valid for the life of the array.
        nint p = (nint)Unsafe.AsPointer(ref buf[0]);
        return (float*)((p + 63) & ~(nint)63);
    }

    /// <summary>
    /// Packs op(A)[i0..i0+mc, k0..k0+kc] into MR-row micro-panels: panel p holds, for each k, the MR values
    /// op(A)[i0+p·MR+r, k] contiguously; rows past mc are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PackA(bool transA, float* a, int lda, int i0, int k0, int mc, int kc, float* dst, int mr)
    {
        for (int ip = 0; ip < mc; ip += mr)
        {
            int rows = Math.Min(mr, mc - ip);
            float* d = dst + (long)ip * kc;
            if (transA)
            {
                // A stored K×M: op(A)[i,k] = a[k·lda + i] → MR contiguous values per k.
                float* src = a + (long)k0 * lda + i0 + ip;
                if (rows == mr && mr % 8 == 0 && Vector256.IsHardwareAccelerated)
                {
                    // Vector copies: Span.CopyTo's call per 32-byte row was 9 % of the VAE decoder's 1024×32×64 weight gradient.
                    for (int kk = 0; kk < kc; kk++)
                    {
                        float* s = src + (long)kk * lda, o = d + kk * mr;
                        for (int r = 0; r < mr; r += 8) Vector256.Store(Vector256.Load(s + r), o + r);
                    }
                }
                else if (rows == mr)
                {
                    for (int kk = 0; kk < kc; kk++)
                        new ReadOnlySpan<float>(src + (long)kk * lda, mr).CopyTo(new Span<float>(d + kk * mr, mr));
                }
                else
                {
                    for (int kk = 0; kk < kc; kk++)
                    {
                        float* s = src + (long)kk * lda, o = d + kk * mr;
                        int r = 0;
                        for (; r < rows; r++) o[r] = s[r];
                        for (; r < mr; r++) o[r] = 0f;
                    }
                }
            }
            else if (rows == mr && mr % 8 == 0 && Avx.IsSupported)
            {
                // A stored M×K, full panel: 8×8 register transposes (8 row loads → 8 contiguous k-vectors).
                int kk = 0;
                for (; kk <= kc - 8; kk += 8)
                    for (int r0 = 0; r0 < mr; r0 += 8)
                        Transpose8x8(a + (long)(i0 + ip + r0) * lda + k0 + kk, lda, d + kk * mr + r0, mr);
                for (; kk < kc; kk++)
                    for (int r = 0; r < mr; r++) d[kk * mr + r] = a[(long)(i0 + ip + r) * lda + k0 + kk];
            }
            else
            {
                // A stored M×K: read each row sequentially, write with stride MR.
                for (int r = 0; r < rows; r++)
                {
                    float* s = a + (long)(i0 + ip + r) * lda + k0;
                    float* o = d + r;
                    for (int kk = 0; kk < kc; kk++) o[kk * mr] = s[kk];
                }
                for (int r = rows; r < mr; r++)
                    for (int kk = 0; kk < kc; kk++) d[kk * mr + r] = 0f;
            }
        }
    }

    /// <summary>
    /// Packs op(B)[k0..k0+kc, j0..j0+nc] into NR-column micro-panels: panel p holds, for each k, the NR values
    /// op(B)[k, j0+p·NR+j] contiguously; columns past nc are zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(bool transB, float* b, int ldb, int k0, int j0, int kc, int nc, float* dst, int nr)
    {
        for (int jp = 0; jp < nc; jp += nr)
        {
            int cols = Math.Min(nr, nc - jp);
            float* d = dst + (long)jp * kc;
            if (!transB)
            {
                // B stored K×N: NR contiguous values per k.
                float* src = b + (long)k0 * ldb + j0 + jp;
                if (cols == nr && nr == 32 && Vector512.IsHardwareAccelerated)
                {
                    // Two vector copies per k: Span.CopyTo's call per 128-byte row cost 7 % of a 512³ GEMM.
                    for (int kk = 0; kk < kc; kk++)
                    {
                        float* s = src + (long)kk * ldb, o = d + kk * nr;
                        Vector512.Store(Vector512.Load(s), o);
                        Vector512.Store(Vector512.Load(s + 16), o + 16);
                    }
                }
                else if (cols == nr)
                {
                    for (int kk = 0; kk < kc; kk++)
                        new ReadOnlySpan<float>(src + (long)kk * ldb, nr).CopyTo(new Span<float>(d + kk * nr, nr));
                }
                else
                {
                    for (int kk = 0; kk < kc; kk++)
                    {
                        float* s = src + (long)kk * ldb, o = d + kk * nr;
                        int j = 0;
                        for (; j < cols; j++) o[j] = s[j];
                        for (; j < nr; j++) o[j] = 0f;
                    }
                }
            }
            else if (cols == nr && Avx.IsSupported)
            {
                // B stored N×K, full panel: 8×8 register transposes instead of NR·kc scalar strided stores.
                int kk = 0;
                for (; kk <= kc - 8; kk += 8)
                    for (int j = 0; j < nr; j += 8)
                        Transpose8x8(b + (long)(j0 + jp + j) * ldb + k0 + kk, ldb, d + kk * nr + j, nr);
                for (; kk < kc; kk++)
                    for (int j = 0; j < nr; j++) d[kk * nr + j] = b[(long)(j0 + jp + j) * ldb + k0 + kk];
            }
            else
            {
                // B stored N×K: op(B)[k,j] = b[j·ldb + k]; read each column's K run sequentially.
                for (int j = 0; j < cols; j++)
                {
                    float* s = b + (long)(j0 + jp + j) * ldb + k0;
                    float* o = d + j;
                    for (int kk = 0; kk < kc; kk++) o[kk * nr] = s[kk];
                }
                for (int j = cols; j < nr; j++)
                    for (int kk = 0; kk < kc; kk++) d[kk * nr + j] = 0f;
            }
        }
    }

    /// <summary>
    /// dst[t·lds + r] = src[r·ld + t] for r, t &lt; 8: the classic AVX 8×8 transpose (unpack, shuffle, 128-bit permute).
    /// Pure data movement, so packing through it never changes a result.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose8x8(float* src, int ld, float* dst, int lds) =>
        SimdTranspose.Store8x8(
            Avx.LoadVector256(src), Avx.LoadVector256(src + ld), Avx.LoadVector256(src + 2L * ld), Avx.LoadVector256(src + 3L * ld),
            Avx.LoadVector256(src + 4L * ld), Avx.LoadVector256(src + 5L * ld), Avx.LoadVector256(src + 6L * ld), Avx.LoadVector256(src + 7L * ld),
            ref *dst, lds);

    /// <summary>The default tile (<see cref="MR"/>×<see cref="NR"/>) for callers that pack their own panels (conv kernels).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Micro(bool narrow, int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mode)
        => Micro(narrow ? Tiling.K16x16 : Use512 ? Tiling.K8x32 : Tiling.K6x16, kc, a, b, c, ldc, alpha, beta, mode);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Micro(int kind, int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mode)
    {
        switch (kind)
        {
            case Tiling.K8x32: Micro8x32(kc, a, b, c, ldc, alpha, beta, mode); break;
            case Tiling.K16x16: Micro16x16(kc, a, b, c, ldc, alpha, beta, mode); break;
            default: Micro6x16(kc, a, b, c, ldc, alpha, beta, mode); break;
        }
    }

    /// <summary>
    /// 8×32 tile: 16 Vector512 accumulators (2 per row), per k two loads of B and 8 broadcasts of A feeding
    /// 16 FMAs. Stores: Overwrite c = α·acc (C not read); Scale c = β·c + α·acc; Accumulate c = α·acc + c.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro8x32(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mode)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default,
            c20 = default, c21 = default, c30 = default, c31 = default,
            c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            Vector512<float> x;
            x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            a += 8; b += 32;
        }
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        Store512(c, va, vb, mode, c00, c01); c += ldc;
        Store512(c, va, vb, mode, c10, c11); c += ldc;
        Store512(c, va, vb, mode, c20, c21); c += ldc;
        Store512(c, va, vb, mode, c30, c31); c += ldc;
        Store512(c, va, vb, mode, c40, c41); c += ldc;
        Store512(c, va, vb, mode, c50, c51); c += ldc;
        Store512(c, va, vb, mode, c60, c61); c += ldc;
        Store512(c, va, vb, mode, c70, c71);
    }

    /// <summary>
    /// 16×16 tile for narrow C: 16 Vector512 accumulators (one per row), one load of B and 16 broadcasts of A per k.
    /// Each lane is the same FMA chain as in the 8×32 kernel, so the choice of kernel never changes a result.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro16x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mode)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default,
            c8 = default, c9 = default, c10 = default, c11 = default, c12 = default, c13 = default, c14 = default, c15 = default;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7);
            c8 = Vector512.FusedMultiplyAdd(Vector512.Create(a[8]), b0, c8);
            c9 = Vector512.FusedMultiplyAdd(Vector512.Create(a[9]), b0, c9);
            c10 = Vector512.FusedMultiplyAdd(Vector512.Create(a[10]), b0, c10);
            c11 = Vector512.FusedMultiplyAdd(Vector512.Create(a[11]), b0, c11);
            c12 = Vector512.FusedMultiplyAdd(Vector512.Create(a[12]), b0, c12);
            c13 = Vector512.FusedMultiplyAdd(Vector512.Create(a[13]), b0, c13);
            c14 = Vector512.FusedMultiplyAdd(Vector512.Create(a[14]), b0, c14);
            c15 = Vector512.FusedMultiplyAdd(Vector512.Create(a[15]), b0, c15);
            a += 16; b += 16;
        }
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        Store512(c, va, vb, mode, c0); c += ldc; Store512(c, va, vb, mode, c1); c += ldc;
        Store512(c, va, vb, mode, c2); c += ldc; Store512(c, va, vb, mode, c3); c += ldc;
        Store512(c, va, vb, mode, c4); c += ldc; Store512(c, va, vb, mode, c5); c += ldc;
        Store512(c, va, vb, mode, c6); c += ldc; Store512(c, va, vb, mode, c7); c += ldc;
        Store512(c, va, vb, mode, c8); c += ldc; Store512(c, va, vb, mode, c9); c += ldc;
        Store512(c, va, vb, mode, c10); c += ldc; Store512(c, va, vb, mode, c11); c += ldc;
        Store512(c, va, vb, mode, c12); c += ldc; Store512(c, va, vb, mode, c13); c += ldc;
        Store512(c, va, vb, mode, c14); c += ldc; Store512(c, va, vb, mode, c15);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> va, Vector512<float> vb, int mode, Vector512<float> x0, Vector512<float> x1)
    {
        Store512(c, va, vb, mode, x0);
        Store512(c + 16, va, vb, mode, x1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> va, Vector512<float> vb, int mode, Vector512<float> x)
    {
        if (mode == ModeOverwrite) Vector512.Store(va * x, c);
        else if (mode == ModeScale) Vector512.Store(Vector512.FusedMultiplyAdd(vb, Vector512.Load(c), va * x), c);
        else Vector512.Store(Vector512.FusedMultiplyAdd(va, x, Vector512.Load(c)), c);
    }

    /// <summary>6×16 tile with Vector256 (fallback without AVX-512): 12 accumulators, same store formulas.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta, int mode)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            Vector256<float> x;
            x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a += 6; b += 16;
        }
        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        Store256(c, va, vb, mode, c00, c01); c += ldc;
        Store256(c, va, vb, mode, c10, c11); c += ldc;
        Store256(c, va, vb, mode, c20, c21); c += ldc;
        Store256(c, va, vb, mode, c30, c31); c += ldc;
        Store256(c, va, vb, mode, c40, c41); c += ldc;
        Store256(c, va, vb, mode, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> va, Vector256<float> vb, int mode, Vector256<float> x0, Vector256<float> x1)
    {
        if (mode == ModeOverwrite)
        {
            Vector256.Store(va * x0, c);
            Vector256.Store(va * x1, c + 8);
        }
        else if (mode == ModeScale)
        {
            Vector256.Store(Vector256.FusedMultiplyAdd(vb, Vector256.Load(c), va * x0), c);
            Vector256.Store(Vector256.FusedMultiplyAdd(vb, Vector256.Load(c + 8), va * x1), c + 8);
        }
        else
        {
            Vector256.Store(Vector256.FusedMultiplyAdd(va, x0, Vector256.Load(c)), c);
            Vector256.Store(Vector256.FusedMultiplyAdd(va, x1, Vector256.Load(c + 8)), c + 8);
        }
    }
}


public sealed partial class CpuBackend
{
    protected override void GemmCore(in GemmSpec s, Tensor a, Tensor b, Tensor c) => CpuGemm.Sgemm(s, F(a), F(b), F(c));
}
