using NativeVq.Cpu;
using NativeVq.Kernels;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The tiled arg-min (codebook in shared memory, warp-shuffle reduction) on the CPU accelerator (warps of 4) against cpu:
/// codes spread over several BN blocks and over every lane of a row, duplicate codebook rows with positions sitting
/// exactly on them (a tie the reduction must resolve to the lowest code, across lanes and blocks), and position counts
/// that are not multiples of BM. Indices start as -1 so a position the kernel forgets shows.
/// </summary>
[Collection("ilgpu")]
public sealed class TiledCodebookParityTests(IlgpuFixture ilgpu)
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    /// <summary>A latent and codebook with rows 9, 22 and 36 copying row 2 and row 31 copying row 17; positions 3, 40 and 41 on those rows.</summary>
    private static (Tensor Z, Tensor Codebook) WithTies(int n, int d, int h, int w, int k)
    {
        var z = GradCheck.Random(Cpu, 91, n, d, h, w).ToArray();
        var cb = GradCheck.Random(Cpu, 92, k, d).ToArray();
        foreach (var (dst, src) in new[] { (9, 2), (22, 2), (36, 2), (31, 17) })
            if (dst < k) Array.Copy(cb, src * d, cb, dst * d, d);
        int hw = h * w;
        foreach (var (pos, code) in new[] { (3, 2), (40, 17), (41, 2) })
        {
            if (code >= k || pos >= n * hw) continue;
            int img = pos / hw, p = pos % hw;
            for (int c = 0; c < d; c++) z[(img * d + c) * hw + p] = cb[code * d + c];
        }
        return (Tensor.FromArray(Cpu, z, n, d, h, w), Tensor.FromArray(Cpu, cb, k, d));
    }

    [Theory]
    [InlineData(2, 5, 5, 7, 37, 4, 4, 4)]   // BM 32, BN 16: 3 code blocks, 70 positions
    [InlineData(2, 5, 5, 7, 37, 2, 3, 3)]   // BM 24, BN 8, a K slice that does not divide D
    [InlineData(1, 9, 6, 8, 40, 4, 2, 4)]   // D over two slices
    [InlineData(3, 3, 4, 5, 5, 4, 4, 4)]    // fewer codes than one block
    public void MatchesCpuWithTies(int n, int d, int h, int w, int k, int tx, int ty, int bk)
    {
        var tile = new TiledGemmKernels.Tile(tx, ty, bk);
        var (z, cb) = WithTies(n, d, h, w, k);
        Parity.Check(ilgpu.Backend, [z, cb], (be, t) =>
        {
            var idx = Tensor.FromArray(be, Enumerable.Repeat(-1, n * h * w).ToArray(), n, h, w);
            if (be is IlgpuBackend ib) Assert.True(ib.NearestCodeTiled(t[0], t[1], idx, n, d, h * w, k, tile));
            else be.NearestCode(t[0], t[1], idx, n, d, h * w, k);
            return [idx];
        });
        var want = F.NearestCode(z, cb).ToIntArray();
        Assert.Equal(2, want[3]);
        if (n * h * w > 41 && k > 31) { Assert.Equal(17, want[40]); Assert.Equal(2, want[41]); }
    }

    [Fact]
    public void BackendNearestCodeUsesTheTiledKernelWhenAsked()
    {
        // What cuda does: Backend.NearestCode through the tiled kernel with the backend's own tile.
        var (z, cb) = WithTies(2, 6, 5, 5, 33);
        ilgpu.Backend.UseTiledGemm = true;
        try { Parity.Check(ilgpu.Backend, [z, cb], (be, t) => [F.NearestCode(t[0], t[1])]); }
        finally { ilgpu.Backend.UseTiledGemm = false; }
    }

    [Fact]
    public void RejectsATileWhoseRowsSpanWarps()
    {
        var be = ilgpu.Backend;
        var z = Tensor.Zeros(be, 1, 2, 3, 3);
        var cb = Tensor.Zeros(be, 4, 2);
        var idx = Tensor.FromArray(be, new int[9], 1, 3, 3);
        Assert.Throws<ArgumentException>(() => be.NearestCodeTiled(z, cb, idx, 1, 2, 9, 4, new TiledGemmKernels.Tile(3, 2, 2)));
    }
}
