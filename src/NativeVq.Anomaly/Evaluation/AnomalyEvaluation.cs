using System.Globalization;
using System.Text.Json;
using NativeVq.Anomaly.Metrics;
using NativeVq.Anomaly.Report;
using NativeVq.Anomaly.Scoring;

namespace NativeVq.Anomaly.Evaluation;

/// <summary>Result of one evaluation: the method's metrics, the reconstruction-error baseline, and every image's scores.</summary>
public sealed record EvaluationRun(EvaluationResult Sample, EvaluationResult ReconstructionBaseline, IReadOnlyList<ImageScore> Scores, double Seconds);

/// <summary>
/// Scores a labelled test set, evaluates the sample score (and the reconstruction error as a baseline) overall and
/// per defect type, with pixel metrics from the restoration maps when masks exist, and writes the report
/// (metrics.json, baseline_metrics.json, index.html) into a folder.
/// </summary>
public static class AnomalyEvaluation
{
    public static EvaluationRun Run(AnomalyScorer scorer, EvalSet set, IReadOnlyList<float>? normalValidationScores, bool maps,
        double thresholdPercentile = 95, int limit = 0, ulong seed = 1, Action<int, int>? progress = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var indices = Enumerable.Range(0, set.Data.Count).ToList();
        if (limit > 0 && limit < indices.Count)
        {
            // A seeded subset that keeps the normal/anomalous mix: shuffle, then take the first `limit`.
            new Rng(seed).Shuffle(indices);
            indices = indices.Take(limit).OrderBy(i => i).ToList();
        }
        var scores = scorer.Score(set.Data, indices, maps, done => progress?.Invoke(done, indices.Count));
        var defects = indices.Select(i => set.Defects[i]).ToArray();
        int size = set.Data.Size;
        List<byte[]?>? masks = null;
        if (maps && set.HasMasks)
            masks = indices.Select(i => set.Mask(i) is float[] m ? m.Select(v => v > 0.5f ? (byte)1 : (byte)0).ToArray() : null).ToList();
        var opts = new EvaluationOptions { ThresholdPercentile = thresholdPercentile };
        var sample = Metrics.Evaluation.Evaluate(new EvaluationInput(defects, scores.Select(s => (float)s.SampleScore).ToArray(),
            masks is null ? null : scores.Select(s => s.Map!).ToArray(), masks, size, size, normalValidationScores), opts);
        var baseline = Metrics.Evaluation.Evaluate(new EvaluationInput(defects, scores.Select(s => (float)s.ReconError).ToArray()), opts);
        return new EvaluationRun(sample, baseline, scores, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Writes metrics.json (the sample score), baseline_metrics.json and the self-contained index.html.</summary>
    public static string WriteReport(string dir, EvalSet set, EvaluationRun run, IReadOnlyDictionary<string, string> info, int maxRows = 200)
    {
        Directory.CreateDirectory(dir);
        int size = set.Data.Size, c = set.Data.Channels;
        var byName = Enumerable.Range(0, set.Data.Count).ToDictionary(set.Data.NameOf);
        var images = run.Scores.Select(s =>
        {
            int idx = byName[s.Name];
            var mask = set.Mask(idx)?.Select(v => v > 0.5f ? (byte)1 : (byte)0).ToArray();
            return new ReportImage(s.Name, set.Defects[idx] != Metrics.Evaluation.Good, set.Defects[idx], (float)s.SampleScore,
                s.Input, s.Reconstruction, s.Restoration, s.Map, mask, c, size);
        }).ToList();
        var allInfo = new Dictionary<string, string>(info)
        {
            ["test set"] = set.Description,
            ["images scored"] = run.Scores.Count.ToString(CultureInfo.InvariantCulture),
            ["reconstruction-error baseline image AUROC"] = run.ReconstructionBaseline.Overall.Image.Auroc.ToString("F4", CultureInfo.InvariantCulture),
            ["scoring time"] = $"{run.Seconds:F1} s ({1000 * run.Seconds / Math.Max(1, run.Scores.Count):F0} ms per image)",
        };
        var html = HtmlReport.Write(dir, new ReportData("latent NLL sample score (VQ-VAE + PixelSNAIL)", run.Sample, images) { RunInfo = allInfo, MaxRows = maxRows });
        var tmp = Path.Combine(dir, "baseline_metrics.json.tmp");
        File.WriteAllText(tmp, JsonSerializer.Serialize(run.ReconstructionBaseline, HtmlReport.JsonOptions));
        File.Move(tmp, Path.Combine(dir, "baseline_metrics.json"), overwrite: true);
        return html;
    }
}
