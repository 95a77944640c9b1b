using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;

namespace NativeVq.Models.Training;

/// <summary>
/// What the epoch-loop trainers (VQ-VAE, VAE, GAN) write beside their weights: the run's config.json and the common
/// head of a checkpoint's training record. One place, so the run kinds cannot drift apart in what resume reads.
/// </summary>
public static class TrainingRecord
{
    /// <summary>
    /// Writes config.json. <paramref name="kind"/> null is a VQ-VAE run, whose "model" holds its configuration object
    /// (the layout from before other run kinds existed); otherwise "model" names the kind and the configuration sits
    /// under that name.
    /// </summary>
    public static void WriteConfig(RunDirectory run, string? kind, object config, object options, string device, int images, JsonObject? contamination)
    {
        var json = new JsonObject();
        if (kind is null) json["model"] = JsonSerializer.SerializeToNode(config, RunDirectory.Json);
        else
        {
            json["model"] = kind;
            json[kind] = JsonSerializer.SerializeToNode(config, RunDirectory.Json);
        }
        json["training"] = JsonSerializer.SerializeToNode(options, RunDirectory.Json);
        json["device"] = device;
        json["images"] = images;
        if (contamination is not null) json["contamination"] = contamination.DeepClone();
        run.WriteJson("config.json", json);
    }

    /// <summary>The fields every checkpoint's training record starts with: the options resume compares, where to go on.</summary>
    public static JsonObject CheckpointHead(JsonObject trainingOptions, int step, LoaderPosition position, ulong seed) => new()
    {
        [ResumeCheck.Key] = trainingOptions,
        ["step"] = step,
        ["loader"] = new JsonObject { ["epoch"] = position.Epoch, ["index"] = position.Index },
        ["seed"] = seed,
    };

    /// <summary>A random stream's state, to continue it exactly after a resume.</summary>
    public static JsonArray RngState(Rng rng) => new(rng.State.Select(v => (JsonNode)v).ToArray());
}
