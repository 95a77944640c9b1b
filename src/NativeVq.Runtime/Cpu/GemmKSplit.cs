using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace NativeVq.Cpu;

/// <summary>
/// The K split of one small-C GEMM (a Linear layer's 64×32×1024: C is 2 K floats, A and B 32–64 K each): the row or
/// column split packs the whole of the other operand once per part, so both threads pack op(B) (or op(A)) in full.
/// Here the threads share out the KC blocks instead, each packing only its own slices of A and B. Part 0 (blocks from
/// the first) stores into C exactly as the serial loop does; every later part leaves each block's raw FMA sums in a
/// scratch slab, and the caller adds the slabs to C in ascending block order with the accumulating store's formula
/// c = fma(α, acc, c) — so every element goes through the serial loop's operations in its order: same bits.
/// </summary>
public static unsafe partial class CpuGemm
{
    /// <summary>The calling thread's slabs of raw block sums (M·N floats per block after part 0's), read back after the join.</summary>
    [ThreadStatic] private static float[]? _kSplitSlabs;

    /// <summary>C of at most this many floats (64 KB), and slabs of at most <see cref="KSplitMaxSlabs"/> in all (256 KB): they stay
    /// in L2 from the parts' stores to the caller's sum, and a very long K cannot ask for a slab per block.</summary>
    private const int KSplitMaxC = 16 * 1024, KSplitMaxSlabs = 64 * 1024;

    /// <summary>
    /// Whether the K split replaces a row/column split into <paramref name="splits"/> parts: it needs at least two KC
    /// blocks, one NC block and a small C, and the slabs it writes and reads back must be fewer floats than the
    /// duplicated packing it saves ((splits − 1) copies of op(B) for a row split, of op(A) for a column split).
    /// </summary>
    private static bool KSplitPays(int m, int n, int k, int splits, bool splitRows, int threads, out int parts)
    {
        int blocks = (k + KC - 1) / KC;
        parts = Math.Min(threads, blocks);
        if (parts < 2 || n > NC || (long)m * n > KSplitMaxC) return false;
        long slabs = (long)m * n * (blocks - PartStart(1, blocks, parts));
        long duplicated = (long)(splits - 1) * (splitRows ? (long)k * n : (long)m * k);
        return slabs <= KSplitMaxSlabs && slabs < duplicated;
    }

    /// <summary>
    /// The K split alone into <paramref name="parts"/> parts (at most one per KC block), inline or in parallel, whatever
    /// the plan would choose: tests hold it to the serial loop's bits on shapes and part counts the plan never picks.
    /// </summary>
    internal static void SgemmKSplit(in GemmSpec s, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, int parts, bool inline)
    {
        Need(c.Length, 1, 0, (long)s.M * s.N, "C");
        Need(a.Length, 1, 0, (long)s.M * s.K, "A");
        Need(b.Length, 1, 0, (long)s.K * s.N, "B");
        fixed (float* pa = a, pb = b, pc = c) KSplit(s, pa, pb, pc, Math.Min(parts, (s.K + KC - 1) / KC), inline);
    }

    /// <summary>First KC block of part <paramref name="p"/>: earlier parts take the larger shares (part 0 needs no slab).</summary>
    private static int PartStart(int p, int blocks, int parts) => (p * blocks + parts - 1) / parts;

    private static void KSplit(in GemmSpec s, float* a, float* b, float* c, int parts, bool inline)
    {
        if (s.Batch != 1 || s.K == 0 || s.N > NC || parts < 1) throw new ArgumentException($"K split of {s} into {parts} parts");
        int m = s.M, n = s.N, k = s.K, blocks = (k + KC - 1) / KC, first = PartStart(1, blocks, parts);
        long slab = (long)m * n;
        nint slabs = (nint)Buffer(ref _kSplitSlabs, checked((int)(slab * (blocks - first))));
        var spec = s;
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c;
        For(inline, parts, 1, (p0, p1) =>
        {
            for (int p = p0; p < p1; p++)
                KSplitPart(spec, (float*)pa, (float*)pb, (float*)pc, (float*)slabs, PartStart(p, blocks, parts), PartStart(p + 1, blocks, parts), first);
        });
        // The later blocks, in ascending order, as the serial loop's accumulating store adds them.
        float alpha = s.Alpha;
        for (int blk = first; blk < blocks; blk++) AddScaled(alpha, (float*)slabs + (blk - first) * slab, c, slab);
    }

    /// <summary>KC blocks [b0, b1) of the whole of C: into C itself for part 0, else raw (α = 1, overwrite) into their slabs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KSplitPart(in GemmSpec s, float* a, float* b, float* c, float* slabs, int b0, int b1, int first)
    {
        int m = s.M, n = s.N, k = s.K, lda = s.TransA ? s.M : s.K, ldb = s.TransB ? s.K : s.N;
        var t = Tiling.For(m, n);
        // B stored K×N exactly one panel wide is already the packed panel (kc rows of NR floats): read it in place.
        bool bInPlace = !s.TransB && n == t.Nr;
        float* pB = bInPlace ? null : Buffer(ref _bufB, RoundUp(n, t.Nr) * Math.Min(k, KC));
        for (int blk = b0; blk < b1; blk++)
        {
            int pc = blk * KC, kc = Math.Min(KC, k - pc);
            float* panel = bInPlace ? b + (long)pc * ldb : pB;
            if (!bInPlace) PackB(s.TransB, b, ldb, pc, 0, kc, n, pB, t.Nr);
            if (b0 == 0)
                RowBlocks(t, s.TransA, a, lda, 0, m, pc, kc, panel, n, c, n, s.Alpha, s.Beta, BlockMode(pc, s.Beta));
            else
                RowBlocks(t, s.TransA, a, lda, 0, m, pc, kc, panel, n, slabs + (long)(blk - first) * m * n, n, 1f, 0f, ModeOverwrite);
        }
    }

    /// <summary>c = fma(α, x, c) element-wise: the accumulating store of <see cref="Store512(float*, Vector512{float}, Vector512{float}, int, Vector512{float})"/> (one rounding, so the scalar tail matches the vector lanes).</summary>
    private static void AddScaled(float alpha, float* x, float* c, long count)
    {
        var va = Vector512.Create(alpha);
        long i = 0;
        for (; i <= count - 16; i += 16) Vector512.Store(Vector512.FusedMultiplyAdd(va, Vector512.Load(x + i), Vector512.Load(c + i)), c + i);
        for (; i < count; i++) c[i] = MathF.FusedMultiplyAdd(alpha, x[i], c[i]);
    }
}
