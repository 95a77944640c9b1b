using NativeVq.Data;

namespace NativeVq.Anomaly.Baselines;

/// <summary>A no-network anomaly detector fitted on normal training images: an image score (higher = more anomalous) and a pixel map.</summary>
public interface IBaseline
{
    string Name { get; }
    /// <summary>Scores and [size·size] maps of the given images.</summary>
    (float[] Scores, float[][] Maps) ScoreAll(IImageDataset data, IReadOnlyList<int> indices);
}
