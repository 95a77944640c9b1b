using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;

namespace NativeVq.Models.Training;

/// <summary>Loads a trained prior and its calibration from a run folder.</summary>
public static class PriorStore
{
    public static PixelSnail LoadPrior(string runDir, Backend backend)
    {
        var run = new RunDirectory(runDir, create: false);
        var path = run.File(PriorTrainer.CheckpointName);
        if (!File.Exists(path)) throw new UserError($"{runDir} holds no {PriorTrainer.CheckpointName}: train one with `nativevq train prior --vqvae {runDir} --data ...`");
        var ckpt = NvqFile.Read(path);
        ckpt.RequireKind("pixelsnail");
        PixelSnailConfig cfg;
        try { cfg = ckpt.Config.Deserialize<PixelSnailConfig>(RunDirectory.Json) ?? throw new JsonException("empty config"); }
        catch (JsonException e) { throw new UserError($"{path}: the prior configuration in the header is not valid ({e.Message})"); }
        var prior = new PixelSnail(backend, cfg, seed: 0);
        ckpt.LoadInto(prior.StateDict(), strict: false);
        prior.Eval();
        return prior;
    }

    /// <summary>What calibration.json holds: thresholds and the held-out normal sample scores.</summary>
    public sealed record Calibration(double Lambda, double Tau, double SampleScoreThreshold, float[] HeldOutScores);

    public static Calibration LoadCalibration(string runDir)
    {
        var path = Path.Combine(runDir, PriorTrainer.CalibrationName);
        if (!File.Exists(path)) throw new UserError($"{path} is missing: it is written at the end of `nativevq train prior`");
        try
        {
            var j = JsonNode.Parse(File.ReadAllText(path))!;
            return new Calibration(j["lambda"]!.GetValue<double>(), j["tau"]!.GetValue<double>(),
                j["sample_score_threshold"]!.GetValue<double>(),
                j["heldout_sample_scores"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray());
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException)
        {
            throw new UserError($"{path} is not a valid calibration file ({e.Message})");
        }
    }
}
