using System.Text.Json.Serialization;

namespace NativeVq.Models;

/// <summary>
/// VQ-VAE sizes (design.md §1.1). The defaults are the peer's small model for 28–32 px grayscale
/// (277,217 parameters), so figures compare one to one with shared/peer/FIGURES.md.
/// </summary>
public sealed record VqVaeConfig
{
    public int ImageChannels { get; init; } = 1;
    public int ImageSize { get; init; } = 32;
    public int Channels { get; init; } = 64;
    public int ResChannels { get; init; } = 32;
    public int ResBlocks { get; init; } = 2;
    public int EmbeddingDim { get; init; } = 32;
    public int CodebookSize { get; init; } = 128;
    /// <summary>4 (two stride-2 stages) or 8 (three).</summary>
    public int Downsample { get; init; } = 4;
    public float Beta { get; init; } = 0.25f;
    /// <summary>Learn the codebook by exponential moving averages instead of the codebook loss.</summary>
    public bool Ema { get; init; }
    public float EmaDecay { get; init; } = 0.99f;
    /// <summary>"mse" (peer) or "l1" (MOOD paper).</summary>
    public string ReconLoss { get; init; } = "mse";

    [JsonIgnore] public int LatentSize => ImageSize / Downsample;

    /// <summary>
    /// The defaults for an image size: the peer model up to 32 px, wider and deeper for larger images. Above 32 px,
    /// 4 residual blocks instead of 2: on the demo's textures at 64 px they cut the held-out reconstruction MSE by
    /// 44 % and used 247 of 256 codes instead of 228 at the same steps (docs/results.md, issue 13, bench vqvae_capacity).
    /// </summary>
    public static VqVaeConfig ForImage(int size, int channels) => size <= 32
        ? new VqVaeConfig { ImageSize = size, ImageChannels = channels }
        : new VqVaeConfig { ImageSize = size, ImageChannels = channels, Channels = 128, ResChannels = 64, ResBlocks = 4, Downsample = size >= 128 ? 8 : 4, CodebookSize = 256, EmbeddingDim = 64 };

    /// <summary>Throws a <see cref="UserError"/> naming the option that is out of range.</summary>
    public void Validate()
    {
        if (Downsample is not (4 or 8)) throw new UserError($"--downsample must be 4 or 8, got {Downsample}");
        if (ImageSize <= 0 || ImageSize % Downsample != 0)
            throw new UserError($"--size {ImageSize} is not divisible by the downsampling factor {Downsample}");
        if (ImageChannels is not (1 or 3)) throw new UserError($"--channels must be 1 (grayscale) or 3 (RGB), got {ImageChannels}");
        if (Channels <= 0 || ResChannels <= 0 || EmbeddingDim <= 0 || ResBlocks < 0) throw new UserError("model widths must be positive");
        if (CodebookSize < 2) throw new UserError($"--codes must be at least 2, got {CodebookSize}");
        if (EmaDecay is <= 0f or >= 1f) throw new UserError($"--ema-decay must be in (0, 1), got {EmaDecay}");
        if (ReconLoss is not ("mse" or "l1")) throw new UserError($"--recon-loss must be mse or l1, got '{ReconLoss}'");
    }
}
