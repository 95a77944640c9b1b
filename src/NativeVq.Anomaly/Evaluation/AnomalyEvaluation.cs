using System.Globalization;
using System.Text.Json;
using NativeVq.Anomaly.Baselines;
using NativeVq.Anomaly.Metrics;
using NativeVq.Anomaly.Report;
using NativeVq.Anomaly.Scoring;
using NativeVq.Data;

namespace NativeVq.Anomaly.Evaluation;

/// <summary>Result of one evaluation: the method's metrics, the baselines, every image's scores and the FPR check.</summary>
public sealed record EvaluationRun(
    EvaluationResult Sample,
    string ImageScoreName,
    float[] ImageScores,
    EvaluationResult ReconstructionBaseline,
    IReadOnlyList<BaselineResult> Baselines,
    IReadOnlyDictionary<string, double> ImageScoreAurocs,
    FprCheck? Fpr,
    IReadOnlyList<ImageScore> Scores,
    double Seconds);

/// <summary>What <see cref="AnomalyEvaluation.Run"/> does beyond scoring.</summary>
public sealed record EvaluationSettings
{
    /// <summary>`--image-score`: one score or a '+' combination (see <see cref="ImageScorer"/>).</summary>
    public string ImageScore { get; init; } = ImageScoreDefaults.Default;
    public bool Maps { get; init; } = true;
    public double ThresholdPercentile { get; init; } = 95;
    public int Limit { get; init; }
    public ulong Seed { get; init; } = 1;
    /// <summary>Fit and report the no-network baselines (needs <see cref="EvaluationReference"/>).</summary>
    public bool Baselines { get; init; } = true;
}

/// <summary>
/// Scores a labelled test set, evaluates the image score overall and per defect type (pixel metrics from the
/// restoration maps when masks exist), calibrates the threshold on the run's calibration images, evaluates the
/// reconstruction error and the two no-network baselines on the same images, and writes the report
/// (metrics.json, baseline_metrics.json, index.html) into a folder.
/// </summary>
public static class AnomalyEvaluation
{
    public static EvaluationRun Run(AnomalyScorer scorer, EvalSet set, EvaluationReference? reference, IReadOnlyList<float>? fallbackNormalScores,
        EvaluationSettings settings, Action<string, int, int>? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var imageScorer = new ImageScorer(settings.ImageScore, scorer.Lambda);
        if (imageScorer.NeedsMaps && !settings.Maps) throw new UserError($"--image-score {imageScorer.Name} needs pixel maps: drop --no-maps or choose a latent score (mood, mean-nll, max-nll, complexity, knn)");
        var indices = Enumerable.Range(0, set.Data.Count).ToList();
        if (settings.Limit > 0 && settings.Limit < indices.Count)
        {
            // A seeded subset that keeps the normal/anomalous mix: shuffle, then take the first `limit`.
            new Rng(settings.Seed).Shuffle(indices);
            indices = indices.Take(settings.Limit).OrderBy(i => i).ToList();
        }
        // A run without feature_bank.bin (made before knn): encode its training images here, so knn can be evaluated.
        if (scorer.Bank is null && reference is { Fit.Count: > 0 }) scorer.Bank = FeatureBank.Build(scorer.VqVae, reference.Data, reference.Fit);
        // Seeded like AnomalyModel (an image's restorations do not depend on its place in the set): eval's scores are the product's.
        var scores = scorer.Score(set.Data, indices, settings.Maps, done => progress?.Invoke("score", done, indices.Count), seedByIndex: false);
        var features = scores.Select(imageScorer.Features).ToList();
        var defects = indices.Select(i => set.Defects[i]).ToArray();
        int size = set.Data.Size;
        List<byte[]?>? masks = null;
        if (settings.Maps && set.HasMasks)
            masks = indices.Select(i => set.Mask(i) is float[] m ? m.Select(v => v > 0.5f ? (byte)1 : (byte)0).ToArray() : null).ToList();
        var opts = new EvaluationOptions { ThresholdPercentile = settings.ThresholdPercentile };

        // Calibration: the normal images neither model trained on, with the same settings as the test set.
        IReadOnlyList<ImageScoreFeatures>? calFeatures = null;
        IReadOnlyList<float>? normalScores;
        if (reference is { Calibration.Count: > 0 })
        {
            calFeatures = StoredCalibration(reference, scorer, settings.Maps, imageScorer.NeedsBank, size)
                ?? scorer.Score(reference.Data, reference.Calibration, settings.Maps, done => progress?.Invoke("calibrate", done, reference.Calibration.Count), seedByIndex: false)
                    .Select(imageScorer.Features).ToList();
            imageScorer.Calibrate(calFeatures);
            normalScores = calFeatures.Select(f => (float)imageScorer.Score(f)).ToArray();
        }
        else if (imageScorer.Name == ImageScoreDefaults.Seeds && fallbackNormalScores is not null)
            normalScores = fallbackNormalScores; // a run without calibration images: the prior's held-out maps (calibration.json)
        else
            throw new UserError($"--image-score {imageScorer.Name} needs the run's calibration images ({Models.Training.CalibrationSplit.FileName}, written by `train vqvae`); runs made before it can use --image-score {ImageScoreDefaults.Seeds}");

        var imageScores = features.Select(f => (float)imageScorer.Score(f)).ToArray();
        var sample = Metrics.Evaluation.Evaluate(new EvaluationInput(defects, imageScores,
            masks is null ? null : scores.Select(s => s.Map!).ToArray(), masks, size, size, normalScores), opts);
        var recon = Metrics.Evaluation.Evaluate(new EvaluationInput(defects, scores.Select(s => (float)s.ReconError).ToArray()), opts);
        var aurocs = CompareImageScores(features, calFeatures, defects, scorer.Lambda, settings.Maps);

        FprCheck? fpr = null;
        if (sample.Overall.Image.AtThreshold is { } at && sample.Threshold is { } thr)
            fpr = new FprCheck(thr.NormalValidationImages, settings.ThresholdPercentile, 1 - settings.ThresholdPercentile / 100, at.Fpr, (int)(at.Fp + at.Tn), (int)at.Fp);

        var baselines = settings.Baselines ? Baselines(scorer.Backend, set, reference, indices, defects, masks, opts, settings.Seed, progress) : new List<BaselineResult>();
        return new EvaluationRun(sample, imageScorer.Name, imageScores, recon, baselines, aurocs, fpr, scores, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The two no-network baselines, fitted on the run's training images and evaluated on the same test images.</summary>
    internal static List<BaselineResult> Baselines(Backend backend, EvalSet set, EvaluationReference? reference, IReadOnlyList<int> indices, string[] defects,
        List<byte[]?>? masks, EvaluationOptions opts, ulong seed, Action<string, int, int>? progress)
    {
        var baselines = new List<BaselineResult>();
        if (reference is not { Fit.Count: > 0 }) return baselines;
        int size = set.Data.Size;
        foreach (var make in new Func<IBaseline>[]
        {
            () => LocalStatsGaussian.Fit(reference.Data, reference.Fit),
            () => NearestPatch.Fit(backend, reference.Data, reference.Fit, seed),
        })
        {
            var bc = System.Diagnostics.Stopwatch.StartNew();
            var b = make();
            progress?.Invoke(b.Name, 0, indices.Count);
            var (bs, bm) = b.ScoreAll(set.Data, indices);
            var result = Metrics.Evaluation.Evaluate(new EvaluationInput(defects, bs, masks is null ? null : bm, masks, size, size), opts);
            baselines.Add(new BaselineResult(b.Name, result, bc.Elapsed.TotalSeconds));
            progress?.Invoke(b.Name, indices.Count, indices.Count);
        }
        return baselines;
    }

    /// <summary>
    /// The calibration images' stored values (image_score.json) when they were computed with this evaluation's λ, τ
    /// and map settings for the same images (and hold knn values when the image score needs them: a file from before
    /// knn is still used for the other scores, and the knn comparisons are then left out); null = score them.
    /// </summary>
    private static IReadOnlyList<ImageScoreFeatures>? StoredCalibration(EvaluationReference reference, AnomalyScorer scorer, bool maps, bool knn, int size)
    {
        if (reference.Stored is not { } stored || stored.Images.Count != reference.Calibration.Count) return null;
        if (!reference.Calibration.Select(reference.Data.NameOf).SequenceEqual(stored.Names)) return null;
        var everything = new ImageScorer((maps ? "mood+map-topk" : ImageScoreDefaults.Seeds) + (knn ? "+knn" : ""), scorer.Lambda);
        return stored.Mismatch(everything, scorer.Lambda, scorer.Tau, scorer.Options, size) is null ? stored.Images : null;
    }

    /// <summary>
    /// Image AUROC of every single image score and of the rank-normalised combinations, from the same scored images
    /// (the ablation of `--image-score` in one run); combinations only where calibration images were scored.
    /// </summary>
    private static Dictionary<string, double> CompareImageScores(IReadOnlyList<ImageScoreFeatures> scores, IReadOnlyList<ImageScoreFeatures>? cal, string[] defects, double lambda, bool maps)
    {
        var specs = new List<string> { "mood", "mean-nll", "max-nll", "recon" };
        if (maps) specs.Add("map-topk");
        if (cal is not null)
        {
            specs.Add("complexity");
            specs.Add("mood+recon");
            specs.Add("mean-nll+recon");
            specs.Add("complexity+recon");
            specs.AddRange(["complexity+mean-nll", "complexity+max-nll", "complexity+mood"]);
            if (maps) specs.AddRange(["mood+map-topk", "mean-nll+map-topk", "max-nll+map-topk", "complexity+map-topk", "mean-nll+recon+map-topk"]);
            if (cal.All(c => c.Knn is not null)) specs.AddRange(maps ? ["knn", "complexity+knn", "mean-nll+knn", "knn+map-topk", "complexity+knn+map-topk"] : ["knn", "complexity+knn", "mean-nll+knn"]);
        }
        var labels = defects.Select(d => !string.Equals(d, Metrics.Evaluation.Good, StringComparison.OrdinalIgnoreCase)).ToArray();
        var result = new Dictionary<string, double>();
        foreach (var spec in specs)
        {
            var s = new ImageScorer(spec, lambda);
            if (cal is not null && (cal.All(c => c.MapTopK is not null) || !s.NeedsMaps)) s.Calibrate(cal);
            else if (s.NeedsCalibration) continue;
            result[spec] = ImageLevel.Auroc(scores.Select(x => (float)s.Score(x)).ToArray(), labels);
        }
        return result;
    }

    /// <summary>Writes metrics.json (the image score, baselines, FPR check), baseline_metrics.json and the self-contained index.html.</summary>
    /// <param name="method">How the report names the method (the VQ-VAE + prior unless a run of another kind is reported).</param>
    /// <param name="reconstructionRow">The name of the reconstruction-error row among the comparisons.</param>
    public static string WriteReport(string dir, EvalSet set, EvaluationRun run, IReadOnlyDictionary<string, string> info, int maxRows = 200,
        string method = "VQ-VAE + PixelSNAIL", string reconstructionRow = "reconstruction error (VQ-VAE only)")
    {
        Directory.CreateDirectory(dir);
        int size = set.Data.Size, c = set.Data.Channels;
        var byName = Enumerable.Range(0, set.Data.Count).ToDictionary(set.Data.NameOf);
        var images = run.Scores.Select((s, k) =>
        {
            int idx = byName[s.Name];
            var mask = set.Mask(idx)?.Select(v => v > 0.5f ? (byte)1 : (byte)0).ToArray();
            return new ReportImage(s.Name, set.Defects[idx] != Metrics.Evaluation.Good, set.Defects[idx], run.ImageScores[k],
                s.Input, s.Reconstruction, s.Restoration, s.Map, mask, c, size);
        }).ToList();
        var allInfo = new Dictionary<string, string>(info)
        {
            ["test set"] = set.Description,
            ["images scored"] = run.Scores.Count.ToString(CultureInfo.InvariantCulture),
            ["image score"] = run.ImageScoreName,
            ["scoring time"] = $"{run.Seconds:F1} s ({1000 * run.Seconds / Math.Max(1, run.Scores.Count):F0} ms per image, calibration and baselines included)",
        };
        var comparisons = new List<ComparisonRow> { new(reconstructionRow, run.ReconstructionBaseline, 0) };
        comparisons.AddRange(run.Baselines.Select(b => new ComparisonRow(b.Name, b.Result, b.Seconds)));
        var html = HtmlReport.Write(dir, new ReportData($"{method}, image score {run.ImageScoreName}", run.Sample, images)
        {
            RunInfo = allInfo,
            MaxRows = maxRows,
            Baselines = comparisons,
            Fpr = run.Fpr,
            ImageScoreAurocs = run.ImageScoreAurocs,
        });
        var tmp = Path.Combine(dir, "baseline_metrics.json.tmp");
        File.WriteAllText(tmp, JsonSerializer.Serialize(run.ReconstructionBaseline, HtmlReport.JsonOptions));
        File.Move(tmp, Path.Combine(dir, "baseline_metrics.json"), overwrite: true);
        return html;
    }
}
