using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Shared-memory tiled SGEMM for the CUDA backend (same contract as <see cref="GemmKernels.Gemm"/>: batched
/// row-major, the transpose layouts, strides, alpha/beta with beta = 0 not reading C). One group computes a
/// BM×BN block of C, BM = 8·TY and BN = 4·TX for a TX×TY group; each thread holds an 8×4 register micro-tile whose
/// rows are TY apart and columns TX apart, so a warp's shared-memory reads of B are consecutive (no bank
/// conflicts), its reads of A are broadcasts, and its stores to C are coalesced. Per BK slice of K the group stages
/// A (BM×BK) and B (BK×BN) in shared memory, each element loaded by exactly one thread in the order that is
/// contiguous in global memory for the layout; the shared rows are padded by one float so the transposing stores
/// of a row-major A do not hit one bank. Out-of-range rows, columns and k are loaded as 0 and never stored,
/// so any M, N, K works.
/// The tile is a launch argument (not a constant) so tests can run a 4×4 group on ILGPU's CPU simulator
/// (BM = 32, BN = 16) while cuda runs 16×16 threads (BM = 128, BN = 64, BK = 16); shared memory is sized for
/// the largest tile. CPU twin: src/NativeVq.Runtime/Cpu/Gemm.cs. Tests: TiledGemmParityTests; bench: GemmBench.
/// </summary>
public static class TiledGemmKernels
{
    public const int MaxBM = 128, MaxBN = 64, MaxBK = 16;

    /// <summary>Group shape TX×TY (threads) and K slice BK.</summary>
    public readonly record struct Tile(int TX, int TY, int BK)
    {
        public int BM => 8 * TY;
        public int BN => 4 * TX;
        public int Threads => TX * TY;
        public bool Fits => TX > 0 && TY > 0 && BK > 0 && BM <= MaxBM && BN <= MaxBN && BK <= MaxBK;
    }

    /// <summary>Grid: (ceil(N/BN), ceil(M/BM), batch) groups of (TX·TY) threads.</summary>
    [GroupedKernel]
    public static void Gemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmKernels.Args s, Tile t)
    {
        var as_ = SharedMemory.Allocate<float>(MaxBK * (MaxBM + 1));
        var bs = SharedMemory.Allocate<float>(MaxBK * (MaxBN + 1));
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX, nt = t.TX * t.TY;
        int bm = t.BM, bn = t.BN, lda = bm + 1, ldb = bn + 1;
        int row0 = Grid.IdxY * bm, col0 = Grid.IdxX * bn, batch = Grid.IdxZ;
        int ao = batch * s.StrideA, bo = batch * s.StrideB;
        float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f, c20 = 0f, c21 = 0f, c22 = 0f, c23 = 0f, c30 = 0f, c31 = 0f, c32 = 0f, c33 = 0f, c40 = 0f, c41 = 0f, c42 = 0f, c43 = 0f, c50 = 0f, c51 = 0f, c52 = 0f, c53 = 0f, c60 = 0f, c61 = 0f, c62 = 0f, c63 = 0f, c70 = 0f, c71 = 0f, c72 = 0f, c73 = 0f;
        float av;
        for (int k0 = 0; k0 < s.K; k0 += t.BK)
        {
            // Stage A[row0.., k0..] as as_[k·lda + i] and B[k0.., col0..] as bs[k·ldb + j]; consecutive threads
            // take consecutive global addresses (k fastest for row-major A, i fastest for transposed A).
            for (int e = tid; e < bm * t.BK; e += nt)
            {
                int i, k;
                if (s.TransA != 0) { i = e % bm; k = e / bm; } else { k = e % t.BK; i = e / t.BK; }
                int gi = row0 + i, gk = k0 + k;
                float v = 0f;
                if (gi < s.M && gk < s.K) v = s.TransA != 0 ? a[ao + gk * s.M + gi] : a[ao + gi * s.K + gk];
                as_[k * lda + i] = v;
            }
            for (int e = tid; e < bn * t.BK; e += nt)
            {
                int j, k;
                if (s.TransB != 0) { k = e % t.BK; j = e / t.BK; } else { j = e % bn; k = e / bn; }
                int gj = col0 + j, gk = k0 + k;
                float v = 0f;
                if (gj < s.N && gk < s.K) v = s.TransB != 0 ? b[bo + gj * s.K + gk] : b[bo + gk * s.N + gj];
                bs[k * ldb + j] = v;
            }
            Group.Barrier();
            for (int kk = 0; kk < t.BK; kk++)
            {
                int ab = kk * lda + ty, bb = kk * ldb + tx;
                float b0 = bs[bb], b1 = bs[bb + t.TX], b2 = bs[bb + 2 * t.TX], b3 = bs[bb + 3 * t.TX];
                av = as_[ab]; c00 += av * b0; c01 += av * b1; c02 += av * b2; c03 += av * b3;
                av = as_[ab + 1 * t.TY]; c10 += av * b0; c11 += av * b1; c12 += av * b2; c13 += av * b3;
                av = as_[ab + 2 * t.TY]; c20 += av * b0; c21 += av * b1; c22 += av * b2; c23 += av * b3;
                av = as_[ab + 3 * t.TY]; c30 += av * b0; c31 += av * b1; c32 += av * b2; c33 += av * b3;
                av = as_[ab + 4 * t.TY]; c40 += av * b0; c41 += av * b1; c42 += av * b2; c43 += av * b3;
                av = as_[ab + 5 * t.TY]; c50 += av * b0; c51 += av * b1; c52 += av * b2; c53 += av * b3;
                av = as_[ab + 6 * t.TY]; c60 += av * b0; c61 += av * b1; c62 += av * b2; c63 += av * b3;
                av = as_[ab + 7 * t.TY]; c70 += av * b0; c71 += av * b1; c72 += av * b2; c73 += av * b3;
            }
            Group.Barrier();
        }
        int ci = batch * s.StrideC, row = row0 + ty, col = col0 + tx;
        Store(c, s, ci, row + 0 * t.TY, col, t.TX, c00, c01, c02, c03);
        Store(c, s, ci, row + 1 * t.TY, col, t.TX, c10, c11, c12, c13);
        Store(c, s, ci, row + 2 * t.TY, col, t.TX, c20, c21, c22, c23);
        Store(c, s, ci, row + 3 * t.TY, col, t.TX, c30, c31, c32, c33);
        Store(c, s, ci, row + 4 * t.TY, col, t.TX, c40, c41, c42, c43);
        Store(c, s, ci, row + 5 * t.TY, col, t.TX, c50, c51, c52, c53);
        Store(c, s, ci, row + 6 * t.TY, col, t.TX, c60, c61, c62, c63);
        Store(c, s, ci, row + 7 * t.TY, col, t.TX, c70, c71, c72, c73);
    }

    /// <summary>Writes one micro-tile row (4 columns TX apart) with the alpha/beta epilogue, skipping what lies outside C.</summary>
    private static void Store(ArrayView<float> c, in GemmKernels.Args s, int ci, int i, int j, int dx, float v0, float v1, float v2, float v3)
    {
        if (i >= s.M) return;
        int r = ci + i * s.N;
        Put(c, s, r, j, v0);
        Put(c, s, r, j + dx, v1);
        Put(c, s, r, j + 2 * dx, v2);
        Put(c, s, r, j + 3 * dx, v3);
    }

    private static void Put(ArrayView<float> c, in GemmKernels.Args s, int r, int j, float v)
    {
        if (j >= s.N) return;
        c[r + j] = s.Beta == 0f ? s.Alpha * v : s.Alpha * v + s.Beta * c[r + j];
    }
}
