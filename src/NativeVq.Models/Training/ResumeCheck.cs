using System.Globalization;
using System.Text.Json.Nodes;

namespace NativeVq.Models.Training;

/// <summary>
/// The options a checkpoint was trained with that decide how training continues (batch size, learning rate,
/// seed, ...). A --resume with different values would not continue the loss curve exactly, so it is refused
/// unless the user allows it; then the change is recorded as a line of the metrics file.
/// </summary>
public static class ResumeCheck
{
    public const string Key = "options";

    /// <summary>"--batch 32 → 16" for every option whose value differs from the checkpoint's; empty when none does.</summary>
    public static List<string> Differences(JsonObject training, JsonObject current)
    {
        var diffs = new List<string>();
        if (training[Key] is not JsonObject saved) return diffs;   // a checkpoint from before options were recorded
        current = (JsonObject)JsonNode.Parse(current.ToJsonString())!;   // numbers compared as the same JSON text
        foreach (var (name, value) in current)
        {
            var old = saved[name];
            if (old is null || JsonNode.DeepEquals(old, value)) continue;
            diffs.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {old.ToJsonString()} → {value?.ToJsonString()}"));
        }
        return diffs;
    }

    /// <summary>Throws unless <paramref name="allow"/>; returns the metrics line recording the change (null when nothing changed).</summary>
    public static JsonObject? Enforce(string checkpoint, JsonObject training, JsonObject current, bool allow, string metricsName, int epoch, int step)
    {
        var diffs = Differences(training, current);
        if (diffs.Count == 0) return null;
        if (!allow)
            throw new UserError($"--resume: options differ from the ones {checkpoint} was trained with ({string.Join(", ", diffs)}); " +
                $"the loss curve would not continue exactly. Use the same options, or pass --allow-changed-options to continue anyway (recorded in {metricsName})");
        return new JsonObject
        {
            ["epoch"] = epoch,
            ["step"] = step,
            ["event"] = "resumed with changed options",
            ["changed"] = new JsonArray(diffs.Select(d => (JsonNode)d).ToArray()),
        };
    }
}
