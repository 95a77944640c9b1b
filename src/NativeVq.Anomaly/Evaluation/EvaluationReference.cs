using NativeVq.Data;
using NativeVq.Anomaly.Metrics;
using NativeVq.Anomaly.Scoring;

namespace NativeVq.Anomaly.Evaluation;

/// <summary>
/// The run's normal training images as `eval` sees them: <see cref="Calibration"/> (never trained on: they place
/// the threshold and normalise image scores) and <see cref="Fit"/> (the images the models trained on, which the
/// no-network baselines are fitted on).
/// </summary>
public sealed record EvaluationReference(IImageDataset Data, IReadOnlyList<int> Calibration, IReadOnlyList<int> Fit)
{
    /// <summary>
    /// The run's stored values of the same calibration images (image_score.json, for the current checkpoints), if
    /// any: used instead of scoring them again when made with this evaluation's settings, so eval and `score`
    /// fit the image score and its threshold from the same numbers.
    /// </summary>
    public ImageScoreCalibration? Stored { get; init; }
}

/// <summary>One no-network baseline's evaluation on the same test images.</summary>
public sealed record BaselineResult(string Name, EvaluationResult Result, double Seconds);

/// <summary>The operating point's promise against what the test normals measured.</summary>
public sealed record FprCheck(int CalibrationImages, double ThresholdPercentile, double ExpectedFpr, double MeasuredFpr, int TestNormals, int FalsePositives);
