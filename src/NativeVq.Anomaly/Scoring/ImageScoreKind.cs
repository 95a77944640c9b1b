using System.IO.Compression;

namespace NativeVq.Anomaly.Scoring;

/// <summary>The image-level scores `--image-score` can use (higher = more anomalous).</summary>
public enum ImageScoreKind
{
    /// <summary>The seeds' (MOOD) sample score Σ_i NLL_i·[NLL_i &gt; λ].</summary>
    Mood,
    /// <summary>Mean per-code NLL.</summary>
    MeanNll,
    /// <summary>Largest per-code NLL.</summary>
    MaxNll,
    /// <summary>Restoration-based: the mean of the top 1 % of the smoothed pixel map (needs maps).</summary>
    MapTopK,
    /// <summary>
    /// Complexity-corrected likelihood (Serrà et al., ICLR 2020): total code NLL in bits minus β times the
    /// image's length in bits under a lossless compressor (Deflate of the 8-bit quantised pixels), β fitted on
    /// the calibration normals (least squares of NLL on length; Serrà's β = 1 assumes a pixel-level likelihood).
    /// </summary>
    Complexity,
    /// <summary>Mean squared reconstruction error of the VQ-VAE alone.</summary>
    Recon,
    /// <summary>
    /// Euclidean distance of the image's continuous encoder output z_e to the nearest training image's
    /// (<see cref="FeatureBank"/>, feature_bank.bin): what the encoder saw, not only how likely the prior finds the codes.
    /// </summary>
    Knn,
}

/// <summary>The raw value of each <see cref="ImageScoreKind"/> for one scored image.</summary>
public static class ImageScoreValues
{
    public static string Name(ImageScoreKind k) => k switch
    {
        ImageScoreKind.Mood => "mood",
        ImageScoreKind.MeanNll => "mean-nll",
        ImageScoreKind.MaxNll => "max-nll",
        ImageScoreKind.MapTopK => "map-topk",
        ImageScoreKind.Complexity => "complexity",
        ImageScoreKind.Recon => "recon",
        ImageScoreKind.Knn => "knn",
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    public static ImageScoreKind Parse(string name) => Enum.GetValues<ImageScoreKind>().FirstOrDefault(k => Name(k) == name, (ImageScoreKind)(-1)) is var k && (int)k >= 0
        ? k : throw new UserError($"--image-score: unknown score '{name}' (known: {string.Join(", ", Enum.GetValues<ImageScoreKind>().Select(Name))})");

    /// <summary>The raw value; complexity returns NLL bits − β·length bits.</summary>
    public static double Raw(ImageScoreKind k, ImageScoreFeatures f, double beta = 1) => k switch
    {
        ImageScoreKind.Mood => f.Mood,
        ImageScoreKind.MeanNll => f.MeanNll,
        ImageScoreKind.MaxNll => f.MaxNll,
        ImageScoreKind.MapTopK => f.MapTopK ?? throw new InvalidOperationException("map-topk needs pixel maps (drop --no-maps)"),
        ImageScoreKind.Complexity => f.NllBits - beta * f.LengthBits,
        ImageScoreKind.Recon => f.Recon,
        ImageScoreKind.Knn => f.Knn ?? throw new InvalidOperationException("knn needs the run's feature bank (feature_bank.bin)"),
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    /// <summary>Mean of the largest ⌈share·n⌉ values (at least one).</summary>
    public static double TopKMean(float[] map, double share)
    {
        int k = Math.Max(1, (int)Math.Ceiling(share * map.Length));
        var sorted = (float[])map.Clone();
        Array.Sort(sorted);
        double s = 0;
        for (int i = sorted.Length - k; i < sorted.Length; i++) s += sorted[i];
        return s / k;
    }

    /// <summary>Length in bits of the image's pixels quantised to 8 bits (from [-1, 1]) after Deflate at its smallest setting.</summary>
    public static double CompressedBits(float[] chw)
    {
        var bytes = new byte[chw.Length];
        for (int i = 0; i < chw.Length; i++) bytes[i] = (byte)Math.Clamp((int)MathF.Round((chw[i] + 1f) * 127.5f), 0, 255);
        using var ms = new MemoryStream();
        using (var z = new DeflateStream(ms, CompressionLevel.SmallestSize, leaveOpen: true)) z.Write(bytes);
        return 8.0 * ms.Length;
    }
}
