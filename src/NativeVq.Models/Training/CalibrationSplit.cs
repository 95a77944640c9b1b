using System.Text.Json.Nodes;
using NativeVq.Data;

namespace NativeVq.Models.Training;

/// <summary>
/// The normal images set aside for calibration: chosen once by `train vqvae` (or the demo), never trained on by the
/// VQ-VAE or the prior, and scored by `eval` / `score` to place the image threshold and to normalise image scores.
/// Stored in the run folder as <see cref="FileName"/> with the description of the training data, so that `eval`
/// can reopen the same images (and fit the no-network baselines on the others).
/// </summary>
public sealed record CalibrationSplit(JsonObject Source, int Total, int[] Calibration, string[] Names)
{
    public const string FileName = "data_split.json";
    /// <summary>Default share of the normal training images held out for calibration.</summary>
    public const double DefaultShare = 0.1;
    /// <summary>
    /// Default least number held out: with n calibration images the measured FPR at a p95 threshold scatters by
    /// about √(0.05·0.95/n) (0.022 at n = 100) before the test set's own sampling noise, so fewer than ~100 cannot
    /// hold a ±0.03 goal.
    /// </summary>
    public const int DefaultMinCount = 100;

    /// <summary>
    /// Seeded choice of max(round(share·count), minCount) images, but never more than half of them (the models
    /// need the rest): sorted indices.
    /// </summary>
    public static int[] Choose(int count, double share, int minCount, ulong seed)
    {
        if (share is < 0 or >= 1) throw new UserError($"--calibration-share must be in [0, 1), got {share}");
        if (minCount < 0) throw new UserError($"--calibration-min must be ≥ 0, got {minCount}");
        int n = Math.Min(Math.Max((int)Math.Round(share * count), minCount), count / 2);
        if (share == 0 && minCount == 0) n = 0;
        var order = Enumerable.Range(0, count).ToArray();
        new Rng(seed ^ 0xCA11B4A7E5UL).Shuffle(order);
        var chosen = order.Take(n).ToArray();
        Array.Sort(chosen);
        return chosen;
    }

    /// <summary>The indices of <paramref name="data"/> the models train on (everything but the calibration images).</summary>
    public int[] TrainingIndices() => Enumerable.Range(0, Total).Except(Calibration).ToArray();

    public static CalibrationSplit Create(IImageDataset data, JsonObject source, double share, int minCount, ulong seed)
    {
        var cal = Choose(data.Count, share, minCount, seed);
        return new CalibrationSplit(source, data.Count, cal, cal.Select(data.NameOf).ToArray());
    }

    /// <summary>Refuses a dataset that is not the one the split was made on (other count or other images).</summary>
    public void Check(IImageDataset data, string what)
    {
        if (data.Count != Total)
            throw new UserError($"{what}: {FileName} was made on {Total} images but the data has {data.Count}: pass the data `train vqvae` used");
        for (int i = 0; i < Calibration.Length; i++)
            if (data.NameOf(Calibration[i]) != Names[i])
                throw new UserError($"{what}: calibration image {Calibration[i]} was {Names[i]} when the run was made but is {data.NameOf(Calibration[i])} now: pass the data `train vqvae` used");
    }

    public void Write(string runDir) => new RunDirectory(runDir, create: true).WriteJson(FileName, new JsonObject
    {
        ["source"] = Source.DeepClone(),
        ["images"] = Total,
        ["calibration"] = new JsonArray(Calibration.Select(i => (JsonNode)i).ToArray()),
        ["calibration_names"] = new JsonArray(Names.Select(n => (JsonNode)n).ToArray()),
    });

    /// <summary>The run's split, or null for runs made before splits existed.</summary>
    public static CalibrationSplit? Read(string runDir)
    {
        var path = Path.Combine(runDir, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            var j = JsonNode.Parse(File.ReadAllText(path))!;
            return new CalibrationSplit(j["source"]!.AsObject().DeepClone().AsObject(), j["images"]!.GetValue<int>(),
                j["calibration"]!.AsArray().Select(v => v!.GetValue<int>()).ToArray(),
                j["calibration_names"]!.AsArray().Select(v => v!.GetValue<string>()).ToArray());
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or NullReferenceException or InvalidOperationException)
        {
            throw new UserError($"{path} is not a valid split file ({e.Message})");
        }
    }
}
