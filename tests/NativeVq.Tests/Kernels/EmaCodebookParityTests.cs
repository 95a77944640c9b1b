using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// The EMA codebook update (Backend.EmaCodebookUpdate): cpu against a float64 reference of the formula written here
/// (no PyTorch golden case exists for it), and the ILGPU kernels on the CPU accelerator against cpu, at a small shape
/// with unused codes, over two consecutive updates (so the carried state is checked too).
/// </summary>
[Collection("ilgpu")]
public sealed class EmaCodebookParityTests(IlgpuFixture ilgpu)
{
    private const int N = 3, D = 5, H = 4, W = 4, K = 7;
    // A large ε, so that the smoothing (and with it the total of the sizes) moves the codes well beyond the tolerance.
    private const float Decay = 0.9f, Eps = 0.25f;

    /// <summary>Codes 0..4 only (5 and 6 stay unused), unevenly spread.</summary>
    private static int[] Codes(int salt) => Enumerable.Range(0, N * H * W).Select(p => (p * p + salt * p) % 11 % 5).ToArray();

    private static float[] Values(ulong seed, int count, float scale)
    {
        var rng = new Rng(seed);
        return Enumerable.Range(0, count).Select(_ => (rng.NextFloat() * 2 - 1) * scale).ToArray();
    }

    private static float[] InitialSizes() => Enumerable.Range(0, K).Select(c => 1f + 0.5f * c).ToArray();

    private static Tensor[] TwoUpdates(Backend be, Tensor[] t)
    {
        var size = Tensor.FromArray(be, InitialSizes(), K);
        var embed = Tensor.FromArray(be, Values(3, K * D, 1f), K, D);
        var book = Tensor.Zeros(be, K, D);
        be.EmaCodebookUpdate(t[0], t[1], size, embed, book, Decay, Eps);
        be.EmaCodebookUpdate(t[2], t[3], size, embed, book, Decay, Eps);
        return [size, embed, book];
    }

    private static Tensor[] Inputs(Backend cpu) =>
    [
        Tensor.FromArray(cpu, Values(1, N * D * H * W, 2f), N, D, H, W), Tensor.FromArray(cpu, Codes(1), N, H, W),
        Tensor.FromArray(cpu, Values(2, N * D * H * W, 2f), N, D, H, W), Tensor.FromArray(cpu, Codes(4), N, H, W),
    ];

    [Fact]
    public void IlgpuMatchesCpu()
    {
        using var scope = new TensorScope();
        Parity.Check(ilgpu.Backend, Inputs(CpuBackend.Instance), TwoUpdates, rtol: 1e-5, atol: 1e-6);
    }

    [Fact]
    public void CpuMatchesAFloat64ReferenceOfTheFormula()
    {
        using var scope = new TensorScope();
        var cpu = CpuBackend.Instance;
        var inputs = Inputs(cpu);
        var got = TwoUpdates(cpu, inputs);
        double[] size = InitialSizes().Select(v => (double)v).ToArray(), embed = Values(3, K * D, 1f).Select(v => (double)v).ToArray();
        var book = new double[K * D];
        for (int u = 0; u < 2; u++)
        {
            var z = inputs[2 * u].ToArray();
            var codes = inputs[2 * u + 1].ToIntArray();
            for (int c = 0; c < K; c++)
            {
                var mine = Enumerable.Range(0, N * H * W).Where(p => codes[p] == c).ToArray();
                size[c] = Decay * size[c] + (1 - Decay) * mine.Length;
                for (int j = 0; j < D; j++)
                    embed[c * D + j] = Decay * embed[c * D + j] + (1 - Decay) * mine.Sum(p => (double)z[((p / (H * W)) * D + j) * H * W + p % (H * W)]);
            }
            double total = size.Sum();
            for (int c = 0; c < K; c++)
                for (int j = 0; j < D; j++) book[c * D + j] = embed[c * D + j] / ((size[c] + Eps) / (total + K * Eps) * total);
        }
        Assert.Contains(5, Enumerable.Range(0, K).Where(c => !Codes(1).Contains(c) && !Codes(4).Contains(c)));
        AssertClose(size, got[0].ToArray());
        AssertClose(embed, got[1].ToArray());
        AssertClose(book, got[2].ToArray());
    }

    private static void AssertClose(double[] want, float[] got)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(want[i] - got[i]) <= 1e-5 * (1 + Math.Abs(want[i])), $"element {i}: want {want[i]:R}, got {got[i]:R}");
    }

    [Fact]
    public void CpuRejectsACodeOutOfRange()
    {
        using var scope = new TensorScope();
        var cpu = CpuBackend.Instance;
        var codes = new int[N * H * W];
        codes[9] = K;
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => cpu.EmaCodebookUpdate(Tensor.Zeros(cpu, N, D, H, W), Tensor.FromArray(cpu, codes, N, H, W),
            Tensor.Full(cpu, 1f, K), Tensor.Zeros(cpu, K, D), Tensor.Zeros(cpu, K, D), Decay, Eps));
        Assert.Contains("ema_codebook_update", e.Message);
    }
}
