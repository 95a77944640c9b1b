using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NativeVq.Cli.Commands;

/// <summary>
/// The files of a sharded `score`: part I writes scores.part-I.jsonl (its lines, in input order) and
/// scores.part-I.json (which part of which input it holds); `merge-scores` checks that the parts are all there and
/// fit together, then concatenates them into what an unsharded run writes.
/// </summary>
internal static class ScoreParts
{
    public const string ScoresFile = "scores.jsonl";

    public static string LinesFile(int index) => $"scores.part-{index}.jsonl";

    public static string ManifestFile(int index) => $"scores.part-{index}.json";

    /// <summary>What a part holds: part Index of Shards, lines [First, First + Count) of an input of Images names whose hash is Input.</summary>
    public sealed record Manifest(int Index, int Shards, int Images, int First, int Count, string Input);

    /// <summary>A fingerprint of the whole sorted input list, so parts of different inputs are never joined.</summary>
    public static string InputHash(IEnumerable<string> names)
    {
        ulong h = 14695981039346656037UL;   // FNV-1a 64 over UTF-8 names, each followed by '\n'
        foreach (var name in names)
            foreach (var b in Encoding.UTF8.GetBytes(name + "\n")) { h ^= b; h *= 1099511628211UL; }
        return h.ToString("x16", CultureInfo.InvariantCulture);
    }

    public static void WriteManifest(string outDir, Manifest m)
    {
        var json = new JsonObject
        {
            ["shard"] = m.Index, ["shards"] = m.Shards, ["images"] = m.Images,
            ["first"] = m.First, ["count"] = m.Count, ["input"] = m.Input,
        }.ToJsonString();
        var file = Path.Combine(outDir, ManifestFile(m.Index));
        File.WriteAllText(file + ".tmp", json + "\n");
        File.Move(file + ".tmp", file, overwrite: true);
    }

    /// <summary>Joins the parts in <paramref name="dir"/> into <paramref name="outFile"/>; returns (parts, lines).</summary>
    public static (int Parts, int Lines) Merge(string dir, string outFile)
    {
        if (!Directory.Exists(dir)) throw new UserError($"--input {dir}: folder not found");
        var manifests = Directory.GetFiles(dir, "scores.part-*.json").Select(ReadManifest).OrderBy(m => m.Index).ToList();
        if (manifests.Count == 0) throw new UserError($"--input {dir}: no scores.part-*.json found (written by `score --shard I/N`)");
        var first = manifests[0];
        foreach (var m in manifests)
        {
            if (m.Shards != first.Shards || m.Images != first.Images || m.Input != first.Input)
                throw new UserError($"{dir}: {ManifestFile(m.Index)} is part of {m.Shards} of an input of {m.Images} images ({m.Input}), " +
                    $"{ManifestFile(first.Index)} of {first.Shards} of {first.Images} ({first.Input}): parts of different runs");
        }
        var missing = Enumerable.Range(0, first.Shards).Except(manifests.Select(m => m.Index)).ToList();
        if (missing.Count > 0)
            throw new UserError($"{dir}: part{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} of {first.Shards} missing (no scores.part-I.json)");
        if (manifests.Count != first.Shards)
            throw new UserError($"{dir}: {manifests.Count} parts for --shard I/{first.Shards}");

        var text = new StringBuilder();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int expectedFirst = 0, lines = 0;
        foreach (var m in manifests)
        {
            if (m.First != expectedFirst)
                throw new UserError($"{dir}: {ManifestFile(m.Index)} starts at image {m.First}, expected {expectedFirst}: the parts overlap or leave a gap");
            var linesPath = Path.Combine(dir, LinesFile(m.Index));
            if (!File.Exists(linesPath)) throw new UserError($"{linesPath}: missing (its manifest {ManifestFile(m.Index)} is there)");
            var body = File.ReadAllText(linesPath);
            var partLines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (partLines.Length != m.Count || (body.Length > 0 && body[^1] != '\n'))
                throw new UserError($"{linesPath}: {partLines.Length} complete lines, its manifest says {m.Count} (unfinished or damaged part)");
            foreach (var line in partLines)
            {
                string name = ImageOf(linesPath, line);
                if (!seen.Add(name)) throw new UserError($"{linesPath}: image '{name}' is also in another part: the parts are not disjoint");
            }
            text.Append(body);
            expectedFirst += m.Count;
            lines += m.Count;
        }
        if (expectedFirst != first.Images)
            throw new UserError($"{dir}: the parts hold {expectedFirst} images, the input has {first.Images}");
        var full = Path.GetFullPath(outFile);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full + ".tmp", text.ToString());
        File.Move(full + ".tmp", full, overwrite: true);
        return (manifests.Count, lines);
    }

    private static Manifest ReadManifest(string path)
    {
        try
        {
            var j = JsonNode.Parse(File.ReadAllText(path))!;
            var m = new Manifest(j["shard"]!.GetValue<int>(), j["shards"]!.GetValue<int>(), j["images"]!.GetValue<int>(),
                j["first"]!.GetValue<int>(), j["count"]!.GetValue<int>(), j["input"]!.GetValue<string>());
            if (Path.GetFileName(path) != ManifestFile(m.Index) || m.Index < 0 || m.Index >= m.Shards || m.First < 0 || m.Count < 0 || m.First + m.Count > m.Images)
                throw new JsonException("fields out of range or file name does not match its shard");
            return m;
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new UserError($"{path}: not a valid part manifest ({e.Message})");
        }
    }

    private static string ImageOf(string path, string line)
    {
        try { return JsonNode.Parse(line)!["image"]!.GetValue<string>(); }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException)
        {
            throw new UserError($"{path}: a line is not a score record ({e.Message})");
        }
    }
}
