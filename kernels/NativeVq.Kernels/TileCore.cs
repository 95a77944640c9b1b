using ILGPU;

namespace NativeVq.Kernels;

/// <summary>
/// One element of a GEMM operand as a tiled kernel sees it: A[row, k] or B[k, col] (called with the column as
/// <c>row</c>), 0 outside the matrix. Implemented by small structs holding views and a geometry; the tiled kernels
/// take them as generic struct arguments, so ILGPU inlines each <see cref="At"/> and no call or interface dispatch
/// remains in the PTX.
/// </summary>
internal interface ITileSource
{
    float At(int row, int k);
}

/// <summary>Where a tiled kernel's result element (i, j) goes (overwrite, accumulate, alpha/beta, bias); ignores (i, j) outside the output.</summary>
internal interface ITileSink
{
    void Put(int i, int j, float v);
}

/// <summary>
/// The parts every shared-memory tiled kernel (GEMM, implicit-GEMM conv, argmin) shares: staging a BK slice of an
/// operand into shared memory and the 8×4 register micro-tile that multiplies the staged slices. One thread's
/// micro-tile covers rows ty + r·TY (r &lt; 8) and columns tx + q·TX (q &lt; 4) of the group's BM×BN block, so a warp's
/// shared reads of B are consecutive words (no bank conflicts), its reads of A are broadcasts and its stores are
/// coalesced. Each product accumulates over k strictly in order (slices in order, kk in order), which is what lets
/// the argmin match the CPU's in-order channel sums.
/// </summary>
internal static class TileCore
{
    /// <summary>
    /// Stages rows [r0, r0 + rows) × k [k0, k0 + bk) of <paramref name="src"/> as dst[k·ld + row]. Each element is loaded by
    /// one thread; with <paramref name="kFastest"/> consecutive threads take consecutive k (contiguous in memory for
    /// a row-major A or a transposed B), otherwise consecutive rows.
    /// </summary>
    public static void Stage<TSource>(ArrayView<float> dst, int ld, TSource src, int rows, int bk, bool kFastest, int r0, int k0, int tid, int nt)
        where TSource : struct, ITileSource
    {
        for (int e = tid; e < rows * bk; e += nt)
        {
            int i, k;
            if (kFastest) { k = e % bk; i = e / bk; } else { i = e % rows; k = e / rows; }
            dst[k * ld + i] = src.At(r0 + i, k0 + k);
        }
    }

    /// <summary>
    /// The main loop of a tiled product: for each BK slice of [kBegin, kEnd) stages A (BM×BK) and B (BK×BN) and
    /// multiplies them into <paramref name="acc"/>. The shared arrays come from the kernel (ILGPU allocates shared memory
    /// in the kernel body); rows are padded by one float so the transposing stores of a k-fastest load do not hit one bank.
    /// </summary>
    public static void Product<TA, TB>(ref MicroTile acc, ArrayView<float> @as, ArrayView<float> bs, TA a, bool aKFastest, TB b, bool bKFastest,
        int row0, int col0, int kBegin, int kEnd, TiledGemmKernels.Tile t)
        where TA : struct, ITileSource where TB : struct, ITileSource
    {
        int tid = Group.IdxX, nt = t.TX * t.TY, tx = tid % t.TX, ty = tid / t.TX;
        int lda = t.BM + 1, ldb = t.BN + 1;
        for (int k0 = kBegin; k0 < kEnd; k0 += t.BK)
        {
            Stage(@as, lda, a, t.BM, t.BK, aKFastest, row0, k0, tid, nt);
            Stage(bs, ldb, b, t.BN, t.BK, bKFastest, col0, k0, tid, nt);
            Group.Barrier();
            acc.MultiplySlice(@as, bs, lda, ldb, tx, ty, t);
            Group.Barrier();
        }
    }

    /// <summary>Shared memory of A's and B's slices, sized for the largest tile.</summary>
    public const int SharedA = TiledGemmKernels.MaxBK * (TiledGemmKernels.MaxBM + 1);
    public const int SharedB = TiledGemmKernels.MaxBK * (TiledGemmKernels.MaxBN + 1);
}

/// <summary>One thread's 8×4 accumulators (registers: ILGPU turns a local struct's fields into SSA values).</summary>
internal struct MicroTile
{
    public float C00, C01, C02, C03, C10, C11, C12, C13, C20, C21, C22, C23, C30, C31, C32, C33;
    public float C40, C41, C42, C43, C50, C51, C52, C53, C60, C61, C62, C63, C70, C71, C72, C73;

    /// <summary>acc += A_slice·B_slice over the BK staged k, in order.</summary>
    public void MultiplySlice(ArrayView<float> @as, ArrayView<float> bs, int lda, int ldb, int tx, int ty, TiledGemmKernels.Tile t)
    {
        float av;
        for (int kk = 0; kk < t.BK; kk++)
        {
            int ab = kk * lda + ty, bb = kk * ldb + tx;
            float b0 = bs[bb], b1 = bs[bb + t.TX], b2 = bs[bb + 2 * t.TX], b3 = bs[bb + 3 * t.TX];
            av = @as[ab]; C00 += av * b0; C01 += av * b1; C02 += av * b2; C03 += av * b3;
            av = @as[ab + 1 * t.TY]; C10 += av * b0; C11 += av * b1; C12 += av * b2; C13 += av * b3;
            av = @as[ab + 2 * t.TY]; C20 += av * b0; C21 += av * b1; C22 += av * b2; C23 += av * b3;
            av = @as[ab + 3 * t.TY]; C30 += av * b0; C31 += av * b1; C32 += av * b2; C33 += av * b3;
            av = @as[ab + 4 * t.TY]; C40 += av * b0; C41 += av * b1; C42 += av * b2; C43 += av * b3;
            av = @as[ab + 5 * t.TY]; C50 += av * b0; C51 += av * b1; C52 += av * b2; C53 += av * b3;
            av = @as[ab + 6 * t.TY]; C60 += av * b0; C61 += av * b1; C62 += av * b2; C63 += av * b3;
            av = @as[ab + 7 * t.TY]; C70 += av * b0; C71 += av * b1; C72 += av * b2; C73 += av * b3;
        }
    }

    /// <summary>Hands every accumulator to the sink at its (row, column) of the output; rows TY apart, columns TX apart.</summary>
    public readonly void Store<TSink>(TSink sink, int row, int col, int dx, int dy) where TSink : struct, ITileSink
    {
        Row(sink, row, col, dx, C00, C01, C02, C03);
        Row(sink, row + dy, col, dx, C10, C11, C12, C13);
        Row(sink, row + 2 * dy, col, dx, C20, C21, C22, C23);
        Row(sink, row + 3 * dy, col, dx, C30, C31, C32, C33);
        Row(sink, row + 4 * dy, col, dx, C40, C41, C42, C43);
        Row(sink, row + 5 * dy, col, dx, C50, C51, C52, C53);
        Row(sink, row + 6 * dy, col, dx, C60, C61, C62, C63);
        Row(sink, row + 7 * dy, col, dx, C70, C71, C72, C73);
    }

    private static void Row<TSink>(TSink sink, int i, int j, int dx, float v0, float v1, float v2, float v3) where TSink : struct, ITileSink
    {
        sink.Put(i, j, v0);
        sink.Put(i, j + dx, v1);
        sink.Put(i, j + 2 * dx, v2);
        sink.Put(i, j + 3 * dx, v3);
    }
}
