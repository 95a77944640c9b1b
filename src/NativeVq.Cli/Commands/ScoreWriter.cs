using System.Text;
using System.Text.Json.Nodes;
using NativeVq.Anomaly;
using NativeVq.Data;

namespace NativeVq.Cli.Commands;

/// <summary>
/// The output of `nativevq score`: one JSON line per image, written and flushed as soon as the image is done (work
/// finished before a failure or a kill is kept), and maps/&lt;i&gt;.png (image i of the input list), the folder
/// made only when the first map is written. The lines file and the maps of this run's index range that an earlier
/// run left are removed first, so the folder never mixes two runs. Nothing timing-dependent goes in.
/// </summary>
internal sealed class ScoreWriter : IDisposable
{
    private readonly string _dir;
    private readonly IImageDataset _data;
    private readonly Dictionary<string, int> _indexOf;
    private StreamWriter? _out;

    public ScoreWriter(string file, string dir, IImageDataset data, IReadOnlyList<int> indices)
    {
        File = file; _dir = dir; _data = data;
        _indexOf = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var i in indices) _indexOf.TryAdd(data.NameOf(i), i);
        if (System.IO.File.Exists(file)) System.IO.File.Delete(file);
        foreach (var i in indices)
        {
            var stale = Path.Combine(dir, MapName(i));
            if (System.IO.File.Exists(stale)) System.IO.File.Delete(stale);
        }
    }

    public string File { get; }
    public int Written { get; private set; }
    public int Skips { get; private set; }
    public int Flagged { get; private set; }
    public string? FirstSkip { get; private set; }

    private static string MapName(int index) => $"maps/{index:D5}.png";

    public void Scored(AnomalyResult s)
    {
        Flagged += s.IsAnomalous ? 1 : 0;
        string? mapName = null;
        if (s.MapOverlay() is { } overlay)
        {
            mapName = MapName(_indexOf[s.Name]);
            ImageIO.SavePng(Path.Combine(_dir, mapName), overlay);
        }
        Line(new JsonObject
        {
            ["image"] = s.Name,
            ["score"] = Math.Round(s.Score, 4),
            ["is_anomalous"] = s.IsAnomalous,
            ["threshold"] = Math.Round(s.Threshold, 4),
            ["total_nll"] = Math.Round(s.TotalNll, 4),
            ["resampled_codes"] = s.ResampledCodes,
            ["heat_map"] = mapName,
        });
    }

    public void Skipped(int index, UserError error)
    {
        Skips++;
        FirstSkip ??= error.Message;
        Line(new JsonObject { ["image"] = _data.NameOf(index), ["score"] = null, ["error"] = error.Message });
    }

    private void Line(JsonObject line)
    {
        _out ??= new StreamWriter(new FileStream(File, FileMode.Create, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
        _out.Write(line.ToJsonString() + "\n");
        _out.Flush();
        Written++;
    }

    /// <summary>Closes the file; an empty result (a shard with no images) still gets its (empty) lines file.</summary>
    public void Finish()
    {
        _out ??= new StreamWriter(new FileStream(File, FileMode.Create, FileAccess.Write, FileShare.Read), new UTF8Encoding(false));
        Dispose();
    }

    public void Dispose()
    {
        _out?.Dispose();
        _out = null;
    }
}
