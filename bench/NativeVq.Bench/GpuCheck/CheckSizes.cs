using NativeVq.Models;

namespace NativeVq.Bench.GpuCheck;

/// <summary>Shapes of the gpu check: the figures (Full) or a dry run small enough for ILGPU's CPU simulator (Tiny).</summary>
public sealed record CheckSizes(
    int GemmSize,
    (int M, int N, int K) ParityGemm,
    (int N, int C, int H) Conv, (int N, int Cin, int Cout, int H) ParityConv,
    (int B, int Cq, int Ck, int Dk, int Dv, int H) Attention, (int B, int Cq, int Ck, int Dk, int Dv, int H) ParityAttention,
    (int N, int D, int H, int K) Argmin, (int N, int D, int H, int K) ParityArgmin,
    VqVaeConfig VqVae, PixelSnailConfig PixelSnail, int TrainBatch, int ParityBatch)
{
    public static readonly CheckSizes Full = new(
        GemmSize: 4096, ParityGemm: (517, 389, 300),
        Conv: (64, 128, 64), ParityConv: (4, 24, 40, 19),
        Attention: (128, 66, 130, 16, 64, 8), ParityAttention: (8, 66, 130, 16, 64, 8),
        Argmin: (64, 64, 32, 512), ParityArgmin: (4, 64, 32, 512),
        VqVae: new VqVaeConfig(), PixelSnail: new PixelSnailConfig(), TrainBatch: 128, ParityBatch: 4);

    public static readonly CheckSizes Tiny = new(
        GemmSize: 48, ParityGemm: (37, 45, 29),
        Conv: (2, 8, 8), ParityConv: (2, 3, 5, 7),
        Attention: (2, 6, 10, 8, 16, 4), ParityAttention: (2, 6, 10, 4, 8, 3),
        Argmin: (1, 16, 8, 32), ParityArgmin: (1, 5, 5, 13),
        VqVae: new VqVaeConfig { Channels = 4, ResChannels = 2, ResBlocks = 1, EmbeddingDim = 3, CodebookSize = 6, ImageSize = 8 },
        PixelSnail: new PixelSnailConfig { Codes = 5, Height = 3, Width = 3, Channels = 4, Blocks = 1, ResBlocks = 1, KeyDim = 2, ValueDim = 4 },
        TrainBatch: 2, ParityBatch: 2);
}
