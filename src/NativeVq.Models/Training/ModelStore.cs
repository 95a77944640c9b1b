using System.Text.Json;
using NativeVq.Data;

namespace NativeVq.Models.Training;

/// <summary>Loads trained models back from a run folder (config from the checkpoint header, weights by name).</summary>
public static class ModelStore
{
    public static VqVae LoadVqVae(string runDir, Backend backend)
    {
        var run = new RunDirectory(runDir, create: false);
        var path = run.File(VqVaeTrainer.CheckpointName);
        if (!File.Exists(path)) throw new UserError($"{runDir} holds no {VqVaeTrainer.CheckpointName}: train one with `nativevq train vqvae --out {runDir}`");
        var ckpt = NvqFile.Read(path);
        ckpt.RequireKind("vqvae");
        VqVaeConfig config;
        try { config = ckpt.Config.Deserialize<VqVaeConfig>(RunDirectory.Json) ?? throw new JsonException("empty config"); }
        catch (JsonException e) { throw new UserError($"{path}: the model configuration in the header is not valid ({e.Message})"); }
        var model = new VqVae(backend, config, seed: 0);
        ckpt.LoadInto(model.StateDict(), strict: false);
        model.Eval();
        return model;
    }
}
