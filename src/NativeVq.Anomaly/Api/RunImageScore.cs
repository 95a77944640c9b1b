using NativeVq.Anomaly.Scoring;
using NativeVq.Models.Training;

namespace NativeVq.Anomaly;

/// <summary>
/// The image score a loaded run ranks by and its threshold: the default score (or the one asked for) fitted from
/// the run's <see cref="ImageScoreCalibration"/>, as `eval` fits it. Where that file cannot give it, a fallback
/// with a <see cref="Note"/> that says which score is used and why — never silently another score.
/// </summary>
internal sealed record RunImageScore(ImageScorer Scorer, double Threshold, string? Note)
{
    /// <param name="spec">The score asked for; null = the default (<see cref="ImageScoreDefaults"/>, with or without maps).</param>
    public static RunImageScore Resolve(string runDir, string? spec, bool maps, AnomalyScorer scorer, int size, ModelStore.Calibration cal, double percentile)
    {
        string wanted = spec ?? (maps ? ImageScoreDefaults.Default : ImageScoreDefaults.WithoutMaps);
        var asked = new ImageScorer(wanted, scorer.Lambda);
        if (asked.NeedsMaps && !maps) throw new UserError($"image score {asked.Name} needs pixel maps: score with maps or choose a latent score (mood, mean-nll, max-nll, complexity, knn)");
        var file = ImageScoreCalibration.Read(runDir);
        bool current = file is not null && file.MatchesCheckpoints(runDir);
        string? why = asked.NeedsBank && scorer.Bank is null ? $"{runDir} has no current {FeatureBank.FileName} (made before the knn score, or the VQ-VAE was retrained)"
            : file is null ? $"{runDir} has no {ImageScoreCalibration.FileName} (made before image-score calibration, or without calibration images)"
            : !current ? $"{ImageScoreCalibration.FileName} in {runDir} belongs to other checkpoints (the models were retrained after it was written)"
            : file.Mismatch(asked, scorer.Lambda, scorer.Tau, scorer.Options, size) is { } m ? $"{ImageScoreCalibration.FileName} cannot give {asked.Name}: {m}"
            : null;
        if (why is null) return Fitted(file!, wanted, scorer.Lambda, percentile, null);
        string fix = $"`nativevq calibrate --model {runDir}` with the same scoring options writes it";
        if (spec is null && current)
        {
            // The default cannot be fitted from this file: the map settings differ from the calibration's (the
            // latent-only default needs none of them), or the run predates the knn part (no feature bank). Use the
            // nearest default the file can give, and say so.
            var fallbacks = new[] { ImageScoreDefaults.WithoutMaps, ImageScoreDefaults.WithoutBank(wanted), ImageScoreDefaults.WithoutBank(ImageScoreDefaults.WithoutMaps) }
                .Where(f => maps || !new ImageScorer(f, scorer.Lambda).NeedsMaps).Distinct();
            foreach (var f in fallbacks)
            {
                var s = new ImageScorer(f, scorer.Lambda);
                if (s.Name != asked.Name && file!.Mismatch(s, scorer.Lambda, scorer.Tau, scorer.Options, size) is null && (!s.NeedsBank || scorer.Bank is not null))
                    return Fitted(file, s.Name, scorer.Lambda, percentile, $"{why}; ranking by {s.Name} calibrated on the same images. {fix}");
            }
        }
        if (spec is null || asked.Name == ImageScoreDefaults.Seeds)
        {
            var mood = new ImageScorer(ImageScoreDefaults.Seeds, scorer.Lambda);
            bool quiet = spec is not null && file is null;   // the seeds' recipe on a run from before: exactly what it always did
            return new RunImageScore(mood, cal.SampleScoreThreshold,
                quiet ? null : $"{why}; ranking by the seeds' score (mood, Σ NLL>λ) with calibration.json's threshold. {fix}");
        }
        throw new UserError($"image score {asked.Name}: {why}; {fix}");
    }

    private static RunImageScore Fitted(ImageScoreCalibration file, string spec, double lambda, double percentile, string? note)
    {
        var (s, t) = file.Calibrated(spec, lambda, percentile);
        return new RunImageScore(s, t, note);
    }
}
