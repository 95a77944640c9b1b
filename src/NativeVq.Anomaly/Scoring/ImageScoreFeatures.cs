using System.Text.Json.Nodes;

namespace NativeVq.Anomaly.Scoring;

/// <summary>
/// The raw per-image values every <see cref="ImageScoreKind"/> is computed from. Computed once per scored image
/// (the Deflate length and the map's top-k are the costly ones) and small enough to store for the calibration
/// images in the run folder (<see cref="ImageScoreCalibration"/>), so `score` ranks with exactly eval's numbers.
/// </summary>
/// <param name="Mood">Σ NLL_i·[NLL_i &gt; λ] (nats) at the λ the features were made with.</param>
/// <param name="NllBits">Σ NLL over the code grid in bits.</param>
/// <param name="LengthBits">The image's Deflate length in bits (<see cref="ImageScoreValues.CompressedBits"/>).</param>
/// <param name="MapTopK">Mean of the top 1 % of the smoothed pixel map; null when the image was scored without maps.</param>
/// <param name="Knn">Encoder-output distance to the nearest training image (<see cref="FeatureBank"/>); null when scored without a bank.</param>
public sealed record ImageScoreFeatures(double Mood, double MeanNll, double MaxNll, double NllBits, double LengthBits, double Recon, double? MapTopK, double? Knn = null)
{
    /// <summary>Share of the map's pixels whose mean is map-topk.</summary>
    public const double TopShare = 0.01;

    public static ImageScoreFeatures From(ImageScore s, double lambda) => new(
        LatentScores.SampleScore(s.NllGrid, lambda),
        s.TotalNll / s.NllGrid.Length,
        s.NllGrid.Max(),
        s.TotalNll / Math.Log(2),
        ImageScoreValues.CompressedBits(s.Input),
        s.ReconError,
        s.Map is null ? null : ImageScoreValues.TopKMean(s.Map, TopShare),
        s.Knn);

    public JsonObject ToJson() => new()
    {
        ["mood"] = Mood,
        ["mean_nll"] = MeanNll,
        ["max_nll"] = MaxNll,
        ["nll_bits"] = NllBits,
        ["length_bits"] = LengthBits,
        ["recon"] = Recon,
        ["map_topk"] = MapTopK,
        ["knn"] = Knn,
    };

    public static ImageScoreFeatures FromJson(JsonNode j) => new(
        j["mood"]!.GetValue<double>(), j["mean_nll"]!.GetValue<double>(), j["max_nll"]!.GetValue<double>(),
        j["nll_bits"]!.GetValue<double>(), j["length_bits"]!.GetValue<double>(), j["recon"]!.GetValue<double>(),
        j["map_topk"]?.GetValue<double>(), j["knn"]?.GetValue<double>());
}
