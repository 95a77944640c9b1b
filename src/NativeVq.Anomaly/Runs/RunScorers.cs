using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Models;

namespace NativeVq.Anomaly.Runs;

/// <summary>Opens the scorer a run folder's config.json asks for, and scores datasets with it in batches.</summary>
public static class RunScorers
{
    /// <summary>
    /// The <see cref="IRunScorer"/> of a VAE or GAN run, or null for a VQ-VAE run (its config.json holds the model
    /// configuration object under "model", or a run made before config.json said anything): those go through
    /// <see cref="Scoring.AnomalyScorer"/> exactly as before.
    /// </summary>
    public static IRunScorer? Open(string runDir, Backend backend)
    {
        var path = Path.Combine(runDir, "config.json");
        if (!File.Exists(path)) return null;
        JsonNode? kind;
        try { kind = JsonNode.Parse(File.ReadAllText(path))?["model"]; }
        catch (JsonException e) { throw new UserError($"{path} is not valid JSON ({e.Message})"); }
        if (kind is not JsonValue v || !v.TryGetValue<string>(out var name)) return null;
        return name switch
        {
            "vae" => new VaeRunScorer(VaeRun.Load(runDir, backend)),
            "gan" => new GanRunScorer(GanRun.Load(runDir, backend),
                File.Exists(Path.Combine(runDir, RunCalibration.FileName)) ? RunCalibration.Read(runDir).Combined : null),
            _ => throw new UserError($"{path}: unknown model kind \"{name}\" (this version scores vqvae, vae and gan runs)"),
        };
    }

    /// <summary>Splits [N, ...] into one array per image.</summary>
    public static float[][] PerImage(Tensor t)
    {
        var all = t.ToArray();
        int n = t.Dim(0), per = all.Length / Math.Max(1, n);
        return Enumerable.Range(0, n).Select(i => all.AsSpan(i * per, per).ToArray()).ToArray();
    }

    /// <summary>
    /// Scores images <paramref name="indices"/> of <paramref name="data"/> in batches; one result per image, in order.
    /// <paramref name="scored"/> sees each result as soon as it exists. An image that cannot be read stops the call with
    /// its <see cref="UserError"/>, unless <paramref name="failed"/> is given: it then receives (index, error) and the
    /// other images are scored. A model without batch statistics scores an image the same in any batch.
    /// </summary>
    public static List<ScoredImage> Score(IRunScorer scorer, IImageDataset data, IReadOnlyList<int> indices, Action<int>? progress = null, int batch = 64,
        Action<ScoredImage>? scored = null, Action<int, UserError>? failed = null)
    {
        if (data.Channels != scorer.Channels || data.Size != scorer.ImageSize)
            throw new UserError($"images are {data.Channels}x{data.Size}x{data.Size} but the model expects {scorer.Channels}x{scorer.ImageSize}x{scorer.ImageSize}");
        int per = data.Channels * data.Size * data.Size;
        var results = new List<ScoredImage>(indices.Count);
        for (int s = 0; s < indices.Count; s += batch)
        {
            int m = Math.Min(batch, indices.Count - s);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var buf = new float[m * per];
            var ok = new List<int>(m);
            for (int j = 0; j < m; j++)
            {
                try { data.Load(indices[s + j], buf.AsSpan(ok.Count * per, per)); ok.Add(indices[s + j]); }
                catch (UserError e) when (failed is not null) { failed(indices[s + j], e); }
            }
            if (ok.Count > 0)
            {
                using var scope = new TensorScope();
                var b = scorer.ScoreBatch(Tensor.FromArray(scorer.Backend, buf.AsSpan(0, ok.Count * per), ok.Count, data.Channels, data.Size, data.Size));
                double ms = clock.Elapsed.TotalMilliseconds / ok.Count;
                for (int j = 0; j < ok.Count; j++)
                {
                    int i = ok[j];
                    var r = new ScoredImage(data.NameOf(i), data.LabelOf(i), b.Scores.ToDictionary(kv => kv.Key, kv => kv.Value[j]),
                        buf.AsSpan(j * per, per).ToArray(), b.Reconstructions?[j], b.Maps[j], ms);
                    results.Add(r);
                    scored?.Invoke(r);
                }
            }
            progress?.Invoke(s + m);
        }
        return results;
    }
}

/// <summary>One image scored by an <see cref="IRunScorer"/>.</summary>
public sealed record ScoredImage(string Name, int Label, IReadOnlyDictionary<string, float> Scores, float[] Input, float[]? Reconstruction, float[] Map, double Milliseconds);
