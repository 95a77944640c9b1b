using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Nn;

namespace NativeVq.Models.Training;

/// <summary>Loads trained models back from a run folder: the configuration from the checkpoint header, weights by name.</summary>
public static class ModelStore
{
    public static VqVae LoadVqVae(string runDir, Backend backend)
        => Load<VqVaeConfig, VqVae>(runDir, VqVaeTrainer.CheckpointName, "vqvae", "train vqvae --out", cfg => new VqVae(backend, cfg, seed: 0));

    public static PixelSnail LoadPrior(string runDir, Backend backend)
        => Load<PixelSnailConfig, PixelSnail>(runDir, PriorTrainer.CheckpointName, "pixelsnail", "train prior --vqvae", cfg => new PixelSnail(backend, cfg, seed: 0));

    /// <summary>What calibration.json holds: thresholds and the held-out normal sample scores.</summary>
    public sealed record Calibration(double Lambda, double Tau, double SampleScoreThreshold, float[] HeldOutScores);

    public static Calibration LoadCalibration(string runDir)
    {
        var path = Path.Combine(runDir, PriorTrainer.CalibrationName);
        new RunDirectory(runDir, create: false);   // a file or a missing folder is reported as such
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

    /// <summary>Reads the configuration of the checkpoint (a checkpoint of another kind or a broken header is a UserError).</summary>
    public static TConfig ReadConfig<TConfig>(NvqCheckpoint ckpt)
    {
        try { return ckpt.Config.Deserialize<TConfig>(RunDirectory.Json) ?? throw new JsonException("empty config"); }
        catch (JsonException e) { throw new UserError($"{ckpt.Path}: the model configuration in the header is not valid ({e.Message})"); }
    }

    private static TModel Load<TConfig, TModel>(string runDir, string file, string kind, string how, Func<TConfig, TModel> build) where TModel : Module
    {
        var run = new RunDirectory(runDir, create: false);
        var path = run.File(file);
        if (Directory.Exists(path)) throw new UserError($"{path} is a folder, expected the checkpoint file {file}");
        if (!File.Exists(path)) throw new UserError($"{runDir} holds no {file}: make one with `nativevq {how} {runDir}`");
        var ckpt = NvqFile.Read(path);
        ckpt.RequireKind(kind);
        var model = build(ReadConfig<TConfig>(ckpt));
        ckpt.LoadInto(model.StateDict(), strict: false);
        model.Eval();
        return model;
    }
}
