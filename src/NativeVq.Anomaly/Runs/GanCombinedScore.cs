using System.Text.Json.Nodes;

namespace NativeVq.Anomaly.Runs;

/// <summary>
/// The GAN run's "combined" score: (1 − α)·recon / s_recon + α·feature-distance / s_feature, where s is the standard
/// deviation of that score over the run's calibration images (score_calibration.json). The literal f-AnoGAN sum
/// (1 − α)·recon + α·feature is not used: the feature distance (a sum of squares over thousands of D features) is
/// orders of magnitude larger than the mean absolute residual, so that sum ranks images by the feature distance alone
/// (docs/results.md, "GAN + encoder"). Dividing each term by its spread on normal images makes α the share each
/// term has in the ranking. The spreads are stored with the thresholds so `eval`, `score` and the library agree.
/// </summary>
public sealed record GanCombinedScore(double Alpha, double ReconSpread, double FeatureSpread)
{
    /// <summary>α: f-AnoGAN / ALAD-style weighting of the feature term (the paper's pages name no combination).</summary>
    public const double DefaultAlpha = 0.1;

    /// <summary>
    /// The spreads of the two terms on the calibration images, or null when they cannot be measured (fewer than 2
    /// images, or every image scores alike): the run then has no combined score.
    /// </summary>
    public static GanCombinedScore? FromCalibration(IReadOnlyList<float> recon, IReadOnlyList<float> feature)
        => Spread(recon) is var r && Spread(feature) is var f && r > 0 && f > 0 ? new(DefaultAlpha, r, f) : null;

    public float Apply(float recon, float feature) => (float)((1 - Alpha) * recon / ReconSpread + Alpha * feature / FeatureSpread);

    public float[] Apply(float[] recon, float[] feature) => recon.Select((r, i) => Apply(r, feature[i])).ToArray();

    public JsonObject ToJson() => new() { ["alpha"] = Alpha, ["recon_sd"] = ReconSpread, ["feature_distance_sd"] = FeatureSpread };

    public static GanCombinedScore FromJson(JsonNode j, string path)
    {
        var c = new GanCombinedScore(j["alpha"]!.GetValue<double>(), j["recon_sd"]!.GetValue<double>(), j["feature_distance_sd"]!.GetValue<double>());
        if (!(c.ReconSpread > 0 && c.FeatureSpread > 0 && double.IsFinite(c.ReconSpread) && double.IsFinite(c.FeatureSpread)))
            throw new UserError($"{path}: \"combined\" spreads must be positive and finite, got recon_sd {c.ReconSpread}, feature_distance_sd {c.FeatureSpread}");
        return c;
    }

    /// <summary>Sample standard deviation (n − 1); NaN for fewer than 2 values.</summary>
    private static double Spread(IReadOnlyList<float> v)
    {
        if (v.Count < 2) return double.NaN;
        double mean = v.Average(x => (double)x);
        double sd = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Count - 1));
        return double.IsFinite(sd) ? sd : double.NaN;
    }
}
