using NativeVq.Data;

namespace NativeVq.Anomaly;

/// <summary>What <see cref="AnomalyModel"/> found in one image.</summary>
public sealed class AnomalyResult
{
    /// <summary>The path as given, the relative path inside a scored folder, or the name passed with an in-memory image.</summary>
    public required string Name { get; init; }

    /// <summary>
    /// The anomaly score, higher = more anomalous: the model's image score (<see cref="AnomalyModel.ScoreName"/>;
    /// by default the complexity-corrected code NLL plus the pixel map's top 1 %, each rank-normalised against the
    /// run's calibration images, so about 0 … 2 for normal images).
    /// </summary>
    public required double Score { get; init; }

    /// <summary>The decision threshold of the run: a percentile of the calibration images' scores.</summary>
    public required double Threshold { get; init; }

    /// <summary>Score above the threshold.</summary>
    public bool IsAnomalous => Score > Threshold;

    /// <summary>
    /// The pixel anomaly map, row-major, <see cref="MapWidth"/> × <see cref="MapHeight"/> (the model's input size):
    /// higher = more anomalous, on the scale of |input − restoration| (0 … 2). Null when the model was loaded with
    /// <see cref="AnomalyModelOptions.Maps"/> off.
    /// </summary>
    public float[]? Map { get; init; }

    public int MapWidth { get; init; }

    public int MapHeight { get; init; }

    /// <summary>Σ NLL over the whole code grid (nats).</summary>
    public double TotalNll { get; init; }

    /// <summary>Codes redrawn by the restorations (NLL above τ); 0 when maps are off or nothing was unlikely.</summary>
    public int ResampledCodes { get; init; }

    /// <summary>The image as the model saw it: resized to the model's input, CHW in [-1, 1].</summary>
    public required ImageF Image { get; init; }

    /// <summary>The heat map laid over <see cref="Image"/> (RGB), for a picture of where the anomaly is; null without a map.</summary>
    public ImageF? MapOverlay() => Map is null ? null : HeatMap.Overlay(Image, Map, MapHeight, MapWidth);
}
