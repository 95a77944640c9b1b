using NativeVq.Data;

namespace NativeVq.Serve;

/// <summary>What the server needs from a loaded model: the input it expects and one batched scoring call.</summary>
public interface IBatchScorer
{
    /// <summary>Side of the square input the model was trained on.</summary>
    int ImageSize { get; }
    /// <summary>1 = grayscale, 3 = RGB.</summary>
    int Channels { get; }
    /// <summary>The decision threshold on the sample score (calibrated on held-out normal images).</summary>
    double Threshold { get; }

    /// <summary>
    /// Scores <paramref name="images"/> (each [Channels, ImageSize, ImageSize] in [-1, 1]) in one batched pass.
    /// Each result must equal what scoring that image alone gives: the server batches whatever arrives together.
    /// </summary>
    IReadOnlyList<ServedScore> ScoreBatch(IReadOnlyList<ImageF> images, bool maps);
}

/// <summary>The result for one image. <see cref="Map"/> is [ImageSize·ImageSize] when maps were asked for.</summary>
public sealed record ServedScore(double Score, double Threshold, bool IsAnomalous, double TotalNll, int ResampledCodes, float[]? Map);
