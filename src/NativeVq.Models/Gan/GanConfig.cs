using System.Text.Json.Serialization;

namespace NativeVq.Models;

/// <summary>
/// Sizes of the DCGAN generator, discriminator and encoder (design.md, the contaminated-data paper). Width is the
/// channel count of the outermost (full-resolution side) layer; each stage towards 4x4 doubles it, as in DCGAN.
/// </summary>
public sealed record GanConfig
{
    public int ImageChannels { get; init; } = 1;
    public int ImageSize { get; init; } = 32;
    public int LatentDim { get; init; } = 100;
    public int Width { get; init; } = 64;
    /// <summary>Negative slope of the discriminator's and encoder's LeakyReLU.</summary>
    public float LeakySlope { get; init; } = 0.2f;

    /// <summary>Stride-2 stages between 4x4 and the image: 3 at 32 px, 4 at 64 px.</summary>
    [JsonIgnore] public int Stages => ImageSize switch { 32 => 3, 64 => 4, _ => throw new UserError($"--size must be 32 or 64 for a GAN, got {ImageSize}") };

    /// <summary>Channels at 4x4, the innermost layer of all three networks.</summary>
    [JsonIgnore] public int TopChannels => Width << (Stages - 1);

    /// <summary>Throws a <see cref="UserError"/> naming the option that is out of range.</summary>
    public void Validate()
    {
        _ = Stages;
        if (ImageChannels is not (1 or 3)) throw new UserError($"--channels must be 1 (grayscale) or 3 (RGB), got {ImageChannels}");
        if (LatentDim <= 0) throw new UserError($"--latent-dim must be positive, got {LatentDim}");
        if (Width <= 0) throw new UserError($"--width must be positive, got {Width}");
        if (!(LeakySlope is >= 0f and < 1f)) throw new UserError($"the LeakyReLU slope must be in [0, 1), got {LeakySlope}");
    }
}
