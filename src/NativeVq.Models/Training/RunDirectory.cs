using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NativeVq.Models.Training;

/// <summary>
/// A run folder: checkpoints (*.nvq), config.json, metrics.jsonl and pictures. Every file is written to a
/// temporary name and renamed, so an interrupted run never leaves a half-written file.
/// </summary>
public sealed class RunDirectory
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // A held-out NLL is NaN when nothing is held out: written as "NaN" rather than failing the run.
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public RunDirectory(string path, bool create)
    {
        Path = System.IO.Path.GetFullPath(path);
        if (create)
        {
            NativeVq.Data.OutputPath.CreateFolder(Path, $"run folder {path}", probeWrite: false);
        }
        else if (System.IO.File.Exists(Path))
            throw new UserError($"{path} is a file, expected a run folder: pass the folder that holds it ({System.IO.Path.GetDirectoryName(Path)})");
        else if (!Directory.Exists(Path)) throw new UserError($"run folder {path} does not exist (train a model into it first)");
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public bool Has(string name) => System.IO.File.Exists(File(name));

    public void WriteText(string name, string text)
    {
        var target = File(name);
        var tmp = NativeVq.Data.OutputPath.TempFor(target);
        System.IO.File.WriteAllText(tmp, text, new UTF8Encoding(false));
        System.IO.File.Move(tmp, target, overwrite: true);
    }

    public void WriteJson(string name, JsonNode node) => WriteText(name, node.ToJsonString(Json) + "\n");

    /// <summary>Appends one JSON line (rewrites the file atomically: metrics files are small).</summary>
    public void AppendJsonLine(string name, JsonObject line)
    {
        var existing = Has(name) ? System.IO.File.ReadAllText(File(name)) : "";
        WriteText(name, existing + line.ToJsonString() + "\n");
    }

    /// <summary>Removes a file left by an earlier run that this run replaces (a fresh run never appends to it).</summary>
    public void Delete(string name)
    {
        if (Has(name)) System.IO.File.Delete(File(name));
    }

    /// <summary>Keeps only the metric lines up to <paramref name="epoch"/> (a resumed run rewrites what follows).</summary>
    public void TruncateMetrics(string name, int epoch)
    {
        if (!Has(name)) return;
        var kept = System.IO.File.ReadAllLines(File(name))
            .Where(l => l.Length > 0 && JsonNode.Parse(l)?["epoch"]?.GetValue<int>() is int e && e <= epoch);
        WriteText(name, string.Concat(kept.Select(l => l + "\n")));
    }
}
