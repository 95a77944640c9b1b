using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Optim;

namespace NativeVq.Models.Training;

/// <summary>Adam's moments go into checkpoints as tensors "adam.m.&lt;param&gt;" / "adam.v.&lt;param&gt;" so --resume continues exactly.</summary>
public static class OptimizerState
{
    public static IEnumerable<(string Name, Tensor Tensor)> Tensors(Adam adam, IReadOnlyList<string> names)
    {
        var state = adam.State;
        for (int i = 0; i < names.Count; i++)
        {
            yield return ("adam.m." + names[i], state[i].M);
            yield return ("adam.v." + names[i], state[i].V);
        }
    }

    public static JsonObject Describe(Adam adam) => new()
    {
        ["step_count"] = adam.StepCount,
        ["lr"] = adam.Lr,
        ["parameter_steps"] = new JsonArray(adam.ParameterSteps.Select(s => (JsonNode)s).ToArray()),
    };

    /// <summary>Restores one Adam; <paramref name="key"/> names its entry in the training header (a GAN run keeps three).</summary>
    public static void Restore(Adam adam, NvqCheckpoint ckpt, IReadOnlyList<string> names, string key = "optimizer")
    {
        var info = ckpt.Training[key] as JsonObject
            ?? throw new UserError($"{ckpt.Path}: no optimizer state in the checkpoint, cannot --resume");
        var state = new List<(float[] M, float[] V)>();
        foreach (var n in names)
        {
            if (!ckpt.ByName.TryGetValue("adam.m." + n, out var m) || !ckpt.ByName.TryGetValue("adam.v." + n, out var v))
                throw new UserError($"{ckpt.Path}: optimizer state for {n} is missing, cannot --resume");
            state.Add((m.F32!, v.F32!));
        }
        var steps = info["parameter_steps"]!.AsArray().Select(s => s!.GetValue<int>()).ToArray();
        adam.RestoreState(info["step_count"]!.GetValue<int>(), state, steps);
    }
}
