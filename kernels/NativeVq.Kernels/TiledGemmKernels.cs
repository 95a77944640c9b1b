using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Shared-memory tiled SGEMM for the CUDA backend (same contract as <see cref="GemmKernels.Gemm"/>: batched
/// row-major, the transpose layouts, strides, alpha/beta with beta = 0 not reading C). One group computes a
/// BM×BN block of C, BM = 8·TY and BN = 4·TX for a TX×TY group, each thread an 8×4 register micro-tile; the staging
/// of BK slices in shared memory and the micro-tile are <see cref="TileCore"/>'s, shared with the conv and argmin
/// kernels. Each operand is loaded in the order that is contiguous in global memory for its layout. Out-of-range
/// rows, columns and k are loaded as 0 and never stored, so any M, N, K works.
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
        var @as = SharedMemory.Allocate<float>(TileCore.SharedA);
        var bs = SharedMemory.Allocate<float>(TileCore.SharedB);
        int tid = Group.IdxX, tx = tid % t.TX, ty = tid / t.TX;
        int row0 = Grid.IdxY * t.BM, col0 = Grid.IdxX * t.BN, batch = Grid.IdxZ;
        var acc = default(MicroTile);
        // Row-major A is contiguous along k, a transposed A along its rows; B the other way round.
        TileCore.Product(ref acc, @as, bs, new OperandA(a, s, batch * s.StrideA), s.TransA == 0, new OperandB(b, s, batch * s.StrideB), s.TransB != 0,
            row0, col0, 0, s.K, t);
        acc.Store(new AlphaBetaSink(c, s, batch * s.StrideC), row0 + ty, col0 + tx, t.TX, t.TY);
    }

    /// <summary>A[i, k] of one batch entry in either layout.</summary>
    private readonly struct OperandA(ArrayView<float> a, GemmKernels.Args s, int offset) : ITileSource
    {
        public float At(int i, int k) => i < s.M && k < s.K ? (s.TransA != 0 ? a[offset + k * s.M + i] : a[offset + i * s.K + k]) : 0f;
    }

    /// <summary>B[k, j] of one batch entry in either layout.</summary>
    private readonly struct OperandB(ArrayView<float> b, GemmKernels.Args s, int offset) : ITileSource
    {
        public float At(int j, int k) => j < s.N && k < s.K ? (s.TransB != 0 ? b[offset + j * s.K + k] : b[offset + k * s.N + j]) : 0f;
    }

    /// <summary>C = alpha·acc + beta·C, not reading C when beta = 0.</summary>
    private readonly struct AlphaBetaSink(ArrayView<float> c, GemmKernels.Args s, int offset) : ITileSink
    {
        public void Put(int i, int j, float v)
        {
            if (i >= s.M || j >= s.N) return;
            int r = offset + i * s.N + j;
            c[r] = s.Beta == 0f ? s.Alpha * v : s.Alpha * v + s.Beta * c[r];
        }
    }
}
