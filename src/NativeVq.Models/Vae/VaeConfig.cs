using System.Text.Json.Serialization;

namespace NativeVq.Models;

/// <summary>
/// Sizes of the VAE baseline: three stride-2 4x4 convs down to an S/8 grid, a flat Gaussian latent of
/// <see cref="Latent"/> dimensions, and a decoder mirroring the encoder. A flat latent (not a spatial one) is the
/// classic VAE reconstruction baseline: a spatial latent would reconstruct anomalies nearly as well as normal images.
/// </summary>
public sealed record VaeConfig
{
    public int ImageChannels { get; init; } = 1;
    public int ImageSize { get; init; } = 32;
    /// <summary>Channels of the widest conv stage (the stages use /4, /2 and all of it).</summary>
    public int Channels { get; init; } = 64;
    /// <summary>Dimensions of the Gaussian latent z.</summary>
    public int Latent { get; init; } = 32;
    /// <summary>Weight of the KL term (β-VAE; 1 = the plain ELBO).</summary>
    public float Beta { get; init; } = 1f;

    [JsonIgnore] public int GridSize => ImageSize / 8;
    [JsonIgnore] public int FlatFeatures => Channels * GridSize * GridSize;

    /// <summary>Throws a <see cref="UserError"/> naming the option that is out of range.</summary>
    public void Validate()
    {
        if (ImageChannels is not (1 or 3)) throw new UserError($"--channels must be 1 (grayscale) or 3 (RGB), got {ImageChannels}");
        if (ImageSize < 8 || ImageSize % 8 != 0) throw new UserError($"--size {ImageSize}: the VAE needs a multiple of 8 (three stride-2 stages)");
        if (Channels < 4 || Channels % 4 != 0) throw new UserError($"--width must be a positive multiple of 4, got {Channels}");
        if (Latent <= 0) throw new UserError($"--latent must be positive, got {Latent}");
        if (!(Beta >= 0) || !float.IsFinite(Beta)) throw new UserError($"--beta must be ≥ 0, got {Beta}");
    }
}
