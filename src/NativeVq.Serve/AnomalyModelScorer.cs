using NativeVq.Anomaly;
using NativeVq.Data;

namespace NativeVq.Serve;

/// <summary>
/// The server's scorer: the public <see cref="AnomalyModel"/>, loaded twice on one backend — with pixel maps and
/// without — because maps (restorations) cost far more than the score and most requests do not ask for one.
/// The weights are small next to the activations of a batch, so the second copy is cheap.
/// </summary>
public sealed class AnomalyModelScorer : IBatchScorer, IDisposable
{
    private readonly AnomalyModel _withMaps;
    private readonly AnomalyModel _scoresOnly;

    private AnomalyModelScorer(AnomalyModel withMaps, AnomalyModel scoresOnly)
    {
        _withMaps = withMaps;
        _scoresOnly = scoresOnly;
    }

    public static AnomalyModelScorer Load(string runDir, Backend backend, AnomalyModelOptions options)
    {
        var withMaps = AnomalyModel.Load(runDir, backend, options with { Maps = true });
        return new AnomalyModelScorer(withMaps, AnomalyModel.Load(runDir, backend, options with { Maps = false }));
    }

    public int ImageSize => _withMaps.ImageSize;
    public int Channels => _withMaps.Channels;
    public double Threshold => _withMaps.Threshold;
    public string Device => _withMaps.Device;
    public double Lambda => _withMaps.Lambda;
    public double Tau => _withMaps.Tau;

    public IReadOnlyList<ServedScore> ScoreBatch(IReadOnlyList<ImageF> images, bool maps)
        => (maps ? _withMaps : _scoresOnly).ScoreBatch(images)
            .Select(r => new ServedScore(r.Score, r.Threshold, r.IsAnomalous, r.TotalNll, r.ResampledCodes, r.Map))
            .ToList();

    public void Dispose()
    {
        _withMaps.Dispose();
        _scoresOnly.Dispose();
    }
}
