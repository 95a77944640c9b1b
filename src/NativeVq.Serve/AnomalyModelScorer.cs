using NativeVq.Anomaly;
using NativeVq.Data;

namespace NativeVq.Serve;

/// <summary>
/// The server's scorer: the public <see cref="AnomalyModel"/>, loaded twice on one backend — with pixel maps and
/// without — because maps (restorations) cost far more than the score and most requests do not ask for one.
/// The weights are small next to the activations of a batch, so the second copy is cheap. When the run's image
/// score needs the maps (the default complexity+knn+map-topk does), a request without a map is scored with maps all
/// the same and the map dropped: an image's score must not depend on whether its map was asked for.
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
        try
        {
            bool vqvae = withMaps.Kind == "vqvae";
            if (vqvae && new Anomaly.Scoring.ImageScorer(withMaps.ScoreName, withMaps.Lambda).NeedsMaps) return new AnomalyModelScorer(withMaps, withMaps);
            return new AnomalyModelScorer(withMaps, AnomalyModel.Load(runDir, backend, options with { Maps = false, ImageScore = vqvae ? withMaps.ScoreName : options.ImageScore }));
        }
        catch { withMaps.Dispose(); throw; }
    }

    public int ImageSize => _withMaps.ImageSize;
    public int Channels => _withMaps.Channels;
    public double Threshold => _withMaps.Threshold;
    public string Device => _withMaps.Device;
    /// <summary>"vqvae", "vae" or "gan": λ and τ exist only for "vqvae"; the others have a named score and threshold.</summary>
    public string Kind => _withMaps.Kind;
    public double Lambda => _withMaps.Lambda;
    public double Tau => _withMaps.Tau;
    public string ScoreName => _withMaps.ScoreName;
    public string? ScoreNote => _withMaps.ScoreNote;

    public IReadOnlyList<ServedScore> ScoreBatch(IReadOnlyList<ImageF> images, bool maps)
        => (maps ? _withMaps : _scoresOnly).ScoreBatch(images)
            .Select(r => new ServedScore(r.Score, r.Threshold, r.IsAnomalous, r.TotalNll, r.ResampledCodes, maps ? r.Map : null))
            .ToList();

    public void Dispose()
    {
        _withMaps.Dispose();
        if (!ReferenceEquals(_scoresOnly, _withMaps)) _scoresOnly.Dispose();
    }
}
