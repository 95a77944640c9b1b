using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Models.Training;

namespace NativeVq.Anomaly.Runs;

/// <summary>
/// The decision thresholds of a VAE or GAN run (<see cref="FileName"/> in the run folder): each of the model's
/// image scores on the run's calibration images (normal images it never trained on), and the threshold at
/// <see cref="Percentile"/> of them. Written at the end of training; `score` and <see cref="AnomalyModel"/> read it
/// (a VQ-VAE run keeps its thresholds in calibration.json, written by `train prior`). A GAN run's file also holds
/// <see cref="Combined"/>, the spreads its combined score divides by (null for a VAE run, or a GAN run whose
/// calibration images could not measure them: that run has no combined score).
/// </summary>
public sealed record RunCalibration(double Percentile, IReadOnlyDictionary<string, double> Thresholds, IReadOnlyDictionary<string, float[]> Scores,
    GanCombinedScore? Combined = null)
{
    public const string FileName = "score_calibration.json";
    public const double DefaultPercentile = 95;

    /// <summary>Scores the calibration images <paramref name="calibration"/> of <paramref name="data"/> and writes the file.</summary>
    public static RunCalibration Write(string runDir, IRunScorer scorer, IImageDataset data, IReadOnlyList<int> calibration, double percentile = DefaultPercentile)
    {
        if (calibration.Count == 0) throw new UserError("no calibration images were set aside (--calibration-share 0): the run has no threshold; use a share > 0");
        var scored = RunScorers.Score(scorer, data, calibration);
        var scores = scorer.ScoreNames.ToDictionary(n => n, n => scored.Select(s => s.Scores[n]).ToArray());
        // The GAN's combined score is defined by these very images: its spreads come from them, then its values.
        GanCombinedScore? combined = null;
        if (scorer.Kind == "gan" && !scores.ContainsKey(GanRunScorer.Combined)
            && GanCombinedScore.FromCalibration(scores[GanRunScorer.Recon], scores[GanRunScorer.FeatureDistance]) is { } c)
        {
            combined = c;
            scores[GanRunScorer.Combined] = c.Apply(scores[GanRunScorer.Recon], scores[GanRunScorer.FeatureDistance]);
        }
        var thresholds = scores.ToDictionary(kv => kv.Key, kv => Metrics.ImageLevel.ThresholdFromNormal(kv.Value, percentile));
        var cal = new RunCalibration(percentile, thresholds, scores, combined);
        var json = new JsonObject
        {
            ["percentile"] = percentile,
            ["images"] = calibration.Count,
            ["thresholds"] = new JsonObject(thresholds.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["scores"] = new JsonObject(scores.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray(kv.Value.Select(v => (JsonNode)v).ToArray())))),
        };
        if (combined is not null) json["combined"] = combined.ToJson();
        new RunDirectory(runDir, create: false).WriteJson(FileName, json);
        return cal;
    }

    public static RunCalibration Read(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        if (!File.Exists(path)) throw new UserError($"{path} is missing: it is written at the end of training (`nativevq train vae` / `train gan`)");
        try
        {
            var j = JsonNode.Parse(File.ReadAllText(path))!;
            var thresholds = j["thresholds"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>());
            // A file from before the combined score was normalised holds combined values of the raw sum: refuse it
            // rather than threshold the new score with the old one's percentile.
            if (j["combined"] is null && thresholds.ContainsKey(GanRunScorer.Combined))
                throw new UserError($"{path} was written before the GAN's combined score was normalised by its calibration spreads (docs/gan.md): retrain the run with `nativevq train gan` to rewrite it");
            return new RunCalibration(j["percentile"]!.GetValue<double>(), thresholds,
                j["scores"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.AsArray().Select(v => v!.GetValue<float>()).ToArray()),
                j["combined"] is { } c ? GanCombinedScore.FromJson(c, path) : null);
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException)
        {
            throw new UserError($"{path} is not a valid calibration file ({e.Message})");
        }
    }
}
