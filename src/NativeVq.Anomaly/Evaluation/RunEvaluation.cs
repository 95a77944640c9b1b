using NativeVq.Anomaly.Metrics;
using NativeVq.Anomaly.Runs;
using NativeVq.Anomaly.Scoring;

namespace NativeVq.Anomaly.Evaluation;

/// <summary>
/// `eval` for a run scored through <see cref="IRunScorer"/> (VAE, GAN + encoder): the same metrics, calibrated
/// threshold, FPR check and no-network baselines as <see cref="AnomalyEvaluation.Run"/>, with the image score one of
/// the model's named scores and the pixel metrics from its map. The result is an <see cref="EvaluationRun"/>, so the
/// report and the printed summary are the VQ runs' own.
/// </summary>
public static class RunEvaluation
{
    /// <param name="imageScore">One of <see cref="IRunScorer.ScoreNames"/>, or null for the model's default.</param>
    public static EvaluationRun Run(IRunScorer scorer, EvalSet set, EvaluationReference? reference, string? imageScore,
        EvaluationSettings settings, Action<string, int, int>? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        string name = imageScore ?? scorer.DefaultScore;
        if (!scorer.ScoreNames.Contains(name))
            throw new UserError($"--image-score {name}: a {scorer.Kind} run offers {string.Join(", ", scorer.ScoreNames)}");
        var indices = Enumerable.Range(0, set.Data.Count).ToList();
        if (settings.Limit > 0 && settings.Limit < indices.Count)
        {
            new Rng(settings.Seed).Shuffle(indices);   // the same seeded subset rule as the VQ evaluation
            indices = indices.Take(settings.Limit).OrderBy(i => i).ToList();
        }
        var scored = RunScorers.Score(scorer, set.Data, indices, done => progress?.Invoke("score", done, indices.Count));
        var defects = indices.Select(i => set.Defects[i]).ToArray();
        int size = set.Data.Size;
        List<byte[]?>? masks = null;
        if (settings.Maps && set.HasMasks)
            masks = indices.Select(i => set.Mask(i) is float[] m ? m.Select(v => v > 0.5f ? (byte)1 : (byte)0).ToArray() : null).ToList();
        var opts = new EvaluationOptions { ThresholdPercentile = settings.ThresholdPercentile };

        float[]? normal = null;
        if (reference is { Calibration.Count: > 0 })
            normal = RunScorers.Score(scorer, reference.Data, reference.Calibration, done => progress?.Invoke("calibrate", done, reference.Calibration.Count))
                .Select(s => s.Scores[name]).ToArray();

        var imageScores = scored.Select(s => s.Scores[name]).ToArray();
        var sample = Metrics.Evaluation.Evaluate(new EvaluationInput(defects, imageScores,
            masks is null ? null : scored.Select(s => s.Map).ToArray(), masks, size, size, normal), opts);
        var recon = Metrics.Evaluation.Evaluate(new EvaluationInput(defects, scored.Select(s => s.Scores[scorer.ReconstructionScore]).ToArray()), opts);
        var labels = defects.Select(d => !Metrics.Evaluation.IsGood(d)).ToArray();
        var aurocs = scorer.ScoreNames.ToDictionary(n => n, n => ImageLevel.Auroc(scored.Select(s => s.Scores[n]).ToArray(), labels));

        FprCheck? fpr = null;
        if (sample.Overall.Image.AtThreshold is { } at && sample.Threshold is { } thr)
            fpr = new FprCheck(thr.NormalValidationImages, settings.ThresholdPercentile, 1 - settings.ThresholdPercentile / 100, at.Fpr, (int)(at.Fp + at.Tn), (int)at.Fp);

        var baselines = settings.Baselines
            ? AnomalyEvaluation.Baselines(scorer.Backend, set, reference, indices, defects, masks, opts, settings.Seed, progress)
            : new List<BaselineResult>();
        // The report's per-image record: the chosen score in the sample-score slot, no latent grid.
        var images = scored.Select(s => new ImageScore(s.Name, s.Label, s.Scores[name], 0, s.Scores[scorer.ReconstructionScore], 0,
            s.Input, s.Reconstruction ?? s.Input, null, settings.Maps ? s.Map : null, [], s.Milliseconds)).ToList();
        return new EvaluationRun(sample, name, imageScores, recon, baselines, aurocs, fpr, images, clock.Elapsed.TotalSeconds);
    }
}
