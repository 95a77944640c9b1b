using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Anomaly.Metrics;
using NativeVq.Data;
using NativeVq.Models.Training;

namespace NativeVq.Anomaly.Scoring;

/// <summary>
/// The image-score calibration of a run (image_score.json): the raw score values (<see cref="ImageScoreFeatures"/>)
/// of the run's calibration images — normal images neither model trained on — scored once with stated settings.
/// Any image score (a single part or a '+' combination) is fitted from them exactly as `eval` fits it: β of the
/// complexity score, each part's rank normalisation, and the threshold as a percentile of the calibration scores.
/// Written by `train prior` (and `nativevq calibrate`); read by <see cref="AnomalyModel"/> (`score`, `serve`) and
/// by `eval`, so the product ranks and thresholds with the numbers eval reports.
/// </summary>
public sealed class ImageScoreCalibration
{
    public const string FileName = "image_score.json";
    private const int Version = 1;

    private ImageScoreCalibration(double lambda, double tau, bool maps, JsonObject mapSettings, string checkpoints, IReadOnlyList<string> names, IReadOnlyList<ImageScoreFeatures> images)
    {
        Lambda = lambda;
        Tau = tau;
        Maps = maps;
        MapSettings = mapSettings;
        Checkpoints = checkpoints;
        Names = names;
        Images = images;
    }

    /// <summary>λ the mood values were computed with.</summary>
    public double Lambda { get; }
    public double Tau { get; }
    /// <summary>The calibration images were scored with pixel maps (map-topk available).</summary>
    public bool Maps { get; }
    /// <summary>Everything the map-topk values depend on (τ, rule, reference, restorations, weighting, windows, temperature, seed).</summary>
    public JsonObject MapSettings { get; }
    /// <summary>SHA-256 of vqvae.nvq and prior.nvq: the models the values belong to.</summary>
    public string Checkpoints { get; }
    public IReadOnlyList<string> Names { get; }
    public IReadOnlyList<ImageScoreFeatures> Images { get; }

    /// <summary>
    /// Scores the calibration images with <paramref name="scorer"/> (seeded like <see cref="AnomalyModel"/>: an image's
    /// restorations do not depend on where it stands) and keeps their raw values.
    /// </summary>
    public static ImageScoreCalibration Fit(string runDir, AnomalyScorer scorer, IImageDataset data, IReadOnlyList<int> calibration, bool maps, Action<int>? progress = null)
    {
        if (calibration.Count < 2) throw new UserError($"image-score calibration needs at least 2 calibration images, got {calibration.Count}");
        var scores = scorer.Score(data, calibration, maps, progress, seedByIndex: false);
        var features = scores.Select(s => ImageScoreFeatures.From(s, scorer.Lambda)).ToList();
        return new ImageScoreCalibration(scorer.Lambda, scorer.Tau, maps, MapSettingsOf(scorer.Tau, scorer.Options, data.Size), CheckpointHash(runDir),
            scores.Select(s => s.Name).ToList(), features);
    }

    /// <summary>The settings a map-topk value depends on, with the smoothing windows resolved for the image size.</summary>
    public static JsonObject MapSettingsOf(double tau, ScoringOptions o, int size) => new()
    {
        ["tau"] = tau,
        ["rule"] = o.Rule.ToString().ToLowerInvariant(),
        ["reference"] = o.Reference.ToString().ToLowerInvariant(),
        ["restorations"] = o.Restorations,
        ["softmax_weights"] = o.SoftmaxWeights,
        ["weight_c"] = o.WeightSharpness,
        ["min_pool"] = o.MinPoolFor(size),
        ["avg_pool"] = o.AvgPoolFor(size),
        ["temperature"] = o.Temperature,
        ["seed"] = o.Seed,
    };

    /// <summary>Why <paramref name="spec"/> cannot be fitted from these values for a scorer with the given settings; null when it can.</summary>
    public string? Mismatch(ImageScorer spec, double lambda, double tau, ScoringOptions o, int size)
    {
        if (spec.NeedsLambda && lambda != Lambda)
            return string.Create(CultureInfo.InvariantCulture, $"it was made with λ = {Lambda:G6} nats, this scoring uses {lambda:G6}");
        if (spec.NeedsBank && Images.Any(f => f.Knn is null))
            return $"its calibration images were scored without the training images' feature bank ({FeatureBank.FileName})";
        if (!spec.NeedsMaps) return null;
        if (!Maps) return "its calibration images were scored without pixel maps";
        var now = MapSettingsOf(tau, o, size);
        foreach (var (key, value) in MapSettings)
            if (!JsonNode.DeepEquals(value, now[key]))
                return $"its maps were made with {key.Replace('_', '-')} {value?.ToJsonString()}, this scoring uses {now[key]?.ToJsonString()}";
        return null;
    }

    /// <summary><paramref name="spec"/> fitted on the calibration values, and the threshold: the given percentile of their scores (as `eval` places it).</summary>
    public (ImageScorer Scorer, double Threshold) Calibrated(string spec, double lambda, double percentile)
    {
        var scorer = new ImageScorer(spec, lambda);
        scorer.Calibrate(Images);
        var normal = Images.Select(f => (float)scorer.Score(f)).ToArray();
        return (scorer, ImageLevel.ThresholdFromNormal(normal, percentile));
    }

    /// <summary>Writes image_score.json atomically (temporary file, then rename).</summary>
    public void Write(string runDir) => new RunDirectory(runDir, create: false).WriteJson(FileName, new JsonObject
    {
        ["version"] = Version,
        ["source"] = $"the run's {CalibrationSplit.FileName} calibration images (normal, trained on by neither model)",
        ["checkpoints_sha256"] = Checkpoints,
        ["lambda"] = Lambda,
        ["maps"] = Maps,
        ["map_settings"] = MapSettings.DeepClone(),
        ["images"] = new JsonArray(Images.Select((f, i) => { var o = f.ToJson(); o["name"] = Names[i]; return (JsonNode)o; }).ToArray()),
    });

    /// <summary>The run's calibration, or null when it has none (made before image-score calibration, or without calibration images).</summary>
    public static ImageScoreCalibration? Read(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            var j = JsonNode.Parse(File.ReadAllText(path))!;
            int version = j["version"]!.GetValue<int>();
            if (version != Version) throw new UserError($"{path} has version {version}, this nativevq reads version {Version}: recalibrate with `nativevq calibrate --model {runDir}`");
            var settings = j["map_settings"]!.AsObject().DeepClone().AsObject();
            var images = j["images"]!.AsArray();
            return new ImageScoreCalibration(j["lambda"]!.GetValue<double>(), settings["tau"]!.GetValue<double>(), j["maps"]!.GetValue<bool>(), settings,
                j["checkpoints_sha256"]!.GetValue<string>(), images.Select(x => x!["name"]!.GetValue<string>()).ToList(),
                images.Select(x => ImageScoreFeatures.FromJson(x!)).ToList());
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new UserError($"{path} is not a valid image-score calibration ({e.Message}): recalibrate with `nativevq calibrate --model {runDir}`");
        }
    }

    /// <summary>True when the run's checkpoints are still the ones the values were computed with.</summary>
    public bool MatchesCheckpoints(string runDir) => Checkpoints == CheckpointHash(runDir);

    /// <summary>SHA-256 (hex) over vqvae.nvq then prior.nvq.</summary>
    public static string CheckpointHash(string runDir)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var name in new[] { VqVaeTrainer.CheckpointName, PriorTrainer.CheckpointName })
        {
            var path = Path.Combine(runDir, name);
            if (!File.Exists(path)) return "";
            sha.AppendData(File.ReadAllBytes(path));
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }
}
