using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Models.Training;

namespace NativeVq.Anomaly.Runs;

/// <summary>
/// The decision thresholds of a VAE or GAN run (<see cref="FileName"/> in the run folder): each of the model's
/// image scores on the run's calibration images (normal images it never trained on), and the threshold at
/// <see cref="Percentile"/> of them. Written at the end of training; `score` and <see cref="AnomalyModel"/> read it
/// (a VQ-VAE run keeps its thresholds in calibration.json, written by `train prior`).
/// </summary>
public sealed record RunCalibration(double Percentile, IReadOnlyDictionary<string, double> Thresholds, IReadOnlyDictionary<string, float[]> Scores)
{
    public const string FileName = "score_calibration.json";
    public const double DefaultPercentile = 95;

    /// <summary>Scores the calibration images <paramref name="calibration"/> of <paramref name="data"/> and writes the file.</summary>
    public static RunCalibration Write(string runDir, IRunScorer scorer, IImageDataset data, IReadOnlyList<int> calibration, double percentile = DefaultPercentile)
    {
        if (calibration.Count == 0) throw new UserError("no calibration images were set aside (--calibration-share 0): the run has no threshold; use a share > 0");
        var scored = RunScorers.Score(scorer, data, calibration);
        var scores = scorer.ScoreNames.ToDictionary(n => n, n => scored.Select(s => s.Scores[n]).ToArray());
        var thresholds = scores.ToDictionary(kv => kv.Key, kv => Metrics.ImageLevel.ThresholdFromNormal(kv.Value, percentile));
        var cal = new RunCalibration(percentile, thresholds, scores);
        new RunDirectory(runDir, create: false).WriteJson(FileName, new JsonObject
        {
            ["percentile"] = percentile,
            ["images"] = calibration.Count,
            ["thresholds"] = new JsonObject(thresholds.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["scores"] = new JsonObject(scores.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray(kv.Value.Select(v => (JsonNode)v).ToArray())))),
        });
        return cal;
    }

    public static RunCalibration Read(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        if (!File.Exists(path)) throw new UserError($"{path} is missing: it is written at the end of training (`nativevq train vae` / `train gan`)");
        try
        {
            var j = JsonNode.Parse(File.ReadAllText(path))!;
            return new RunCalibration(j["percentile"]!.GetValue<double>(),
                j["thresholds"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>()),
                j["scores"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.AsArray().Select(v => v!.GetValue<float>()).ToArray()));
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException)
        {
            throw new UserError($"{path} is not a valid calibration file ({e.Message})");
        }
    }
}
