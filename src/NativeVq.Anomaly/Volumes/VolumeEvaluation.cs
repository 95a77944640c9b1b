using System.Globalization;
using System.Text.Json;
using NativeVq.Anomaly.Metrics;
using NativeVq.Anomaly.Report;
using NativeVq.Data;
using NativeVq.Data.Volumes;

namespace NativeVq.Anomaly.Volumes;

/// <summary>One case of a volume evaluation: its label, score, and the slice shown in the report.</summary>
public sealed record VolumeCase(string Name, bool Anomalous, double SampleScore, long Voxels, long AnomalousVoxels, ReportImage View)
{
    /// <summary>The sample score under every aggregation (sum, max, mean), for comparison.</summary>
    public IReadOnlyDictionary<string, double> ByAggregation { get; init; } = new Dictionary<string, double>();
}

/// <summary>Sample-level ranking under one aggregation of the slice scores.</summary>
public sealed record AggregationMetrics(string Aggregation, double SampleAp, double SampleAuroc);

/// <summary>Sample- and voxel-level results (average precision first: the MOOD challenge's metric).</summary>
public sealed record VolumeMetrics(
    int Cases, int AnomalousCases, double SampleAp, double SampleAuroc,
    long Voxels, long AnomalousVoxels, double VoxelAp, double VoxelAuroc)
{
    /// <summary>Sample AP/AUROC had the slices been aggregated otherwise (same scoring run).</summary>
    public IReadOnlyList<AggregationMetrics> ByAggregation { get; init; } = [];
}

public sealed record VolumeEvaluationRun(VolumeMetrics Metrics, IReadOnlyList<VolumeCase> Cases, EvaluationResult SampleCurves, double Seconds);

/// <summary>
/// Evaluates a folder of volumes against MOOD-style labels: <c>LABELS/pixel/&lt;case&gt;</c> (a NIfTI mask of the
/// case's shape, nonzero = anomalous voxel) and <c>LABELS/sample/&lt;case&gt;.txt</c> (0 or 1). A missing sample file
/// takes its label from the mask (anomalous when any voxel is); a missing mask means "all normal" and is refused for
/// a case labelled anomalous. Voxel AP/AUROC pool every voxel of every case; sample AP/AUROC rank the cases.
/// </summary>
public static class VolumeEvaluation
{
    /// <summary>The MOOD toy data convention: labels of <c>DIR</c> live in <c>DIR_label</c> beside it.</summary>
    public static string DefaultLabels(string dataDir) => Path.GetFullPath(dataDir).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) + "_label";

    public static VolumeEvaluationRun Run(VolumeScorer scorer, string dataDir, string labelsDir, long maxVoxels, Action<int, int>? progress = null, Action<VolumeScore>? scored = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        if (!Directory.Exists(dataDir)) throw new UserError($"{dataDir}: folder not found");
        if (!Directory.Exists(labelsDir)) throw new UserError($"{labelsDir}: labels folder not found (expected pixel/<case> masks and sample/<case>.txt labels)");
        var files = VolumeDataset.List(dataDir);
        if (files.Length == 0) throw new UserError($"{dataDir}: no NIfTI volumes found (.nii, .nii.gz)");
        var cases = new List<VolumeCase>();
        var voxelScores = new List<float[]>();
        var voxelLabels = new List<bool[]>();
        for (int c = 0; c < files.Length; c++)
        {
            string rel = files[c].Replace('\\', '/');
            var vol = NiftiFile.Read(Path.Combine(dataDir, files[c]), maxVoxels);
            var (mask, anomalous) = Labels(labelsDir, rel, vol, maxVoxels);
            var s = scorer.Score(vol, rel);
            scored?.Invoke(s);
            voxelScores.Add(s.VoxelMap.Data);
            voxelLabels.Add(mask);
            var scoredSlices = s.Slices.Select(x => x is not null).ToArray();
            cases.Add(new VolumeCase(rel, anomalous, s.SampleScore, mask.LongLength, mask.LongCount(b => b), View(s, mask, anomalous))
            {
                ByAggregation = Enum.GetValues<SampleAggregation>().ToDictionary(a => a.ToString().ToLowerInvariant(), a => VolumeScorer.Aggregate(s.SliceScores, scoredSlices, a)),
            });
            progress?.Invoke(c + 1, files.Length);
        }
        var labels = cases.Select(x => x.Anomalous).ToArray();
        var scores = cases.Select(x => (float)x.SampleScore).ToArray();
        var sample = ImageLevel.Summarize(scores, labels);
        var voxels = ImageLevel.Summarize(Concat(voxelScores), Concat(voxelLabels));
        var curves = Metrics.Evaluation.Evaluate(new EvaluationInput(cases.Select(x => x.Anomalous ? "anomalous" : Metrics.Evaluation.Good).ToArray(), scores));
        var m = new VolumeMetrics(cases.Count, labels.Count(b => b), sample.AveragePrecision, sample.Auroc,
            voxels.Count, voxels.Positives, voxels.AveragePrecision, voxels.Auroc)
        {
            ByAggregation = Enum.GetValues<SampleAggregation>().Select(a => a.ToString().ToLowerInvariant()).Select(a =>
            {
                var sum = ImageLevel.Summarize(cases.Select(x => (float)x.ByAggregation[a]).ToArray(), labels);
                return new AggregationMetrics(a, sum.AveragePrecision, sum.Auroc);
            }).ToList(),
        };
        return new VolumeEvaluationRun(m, cases, curves, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Writes volume_metrics.json (metrics + per-case scores) and the HTML report; returns the page's path.</summary>
    public static string WriteReport(string dir, VolumeEvaluationRun run, IReadOnlyDictionary<string, string> info)
    {
        Directory.CreateDirectory(dir);
        var m = run.Metrics;
        var all = new Dictionary<string, string>
        {
            ["sample AP / AUROC"] = string.Create(CultureInfo.InvariantCulture, $"{m.SampleAp:F4} / {m.SampleAuroc:F4} ({m.Cases} volumes, {m.AnomalousCases} anomalous)"),
            ["voxel AP / AUROC"] = string.Create(CultureInfo.InvariantCulture, $"{m.VoxelAp:F4} / {m.VoxelAuroc:F4} ({m.Voxels} voxels, {m.AnomalousVoxels} anomalous)"),
            ["sample AP / AUROC by aggregation"] = string.Join(", ", m.ByAggregation.Select(a => string.Create(CultureInfo.InvariantCulture, $"{a.Aggregation} {a.SampleAp:F4} / {a.SampleAuroc:F4}"))),
            ["slice views"] = "per volume the slice with the most anomalous voxels (or, without any, the highest-scoring slice), at the model's resolution; map = the 3D-smoothed voxel scores",
            ["scoring time"] = string.Create(CultureInfo.InvariantCulture, $"{run.Seconds:F1} s ({run.Seconds / Math.Max(1, m.Cases):F1} s per volume)"),
        };
        foreach (var (k, v) in info) all[k] = v;
        var json = JsonSerializer.SerializeToUtf8Bytes(new
        {
            metrics = m,
            cases = run.Cases.Select(c => new { name = c.Name, anomalous = c.Anomalous, sampleScore = c.SampleScore, byAggregation = c.ByAggregation, voxels = c.Voxels, anomalousVoxels = c.AnomalousVoxels }),
        }, HtmlReport.JsonOptions);
        ImageIO.WriteAtomic(Path.Combine(dir, "volume_metrics.json"), s => s.Write(json));
        return HtmlReport.Write(dir, new ReportData("volumes: slice-wise latent NLL sample score, 3D-smoothed restoration maps", run.SampleCurves, run.Cases.Select(c => c.View).ToList())
        {
            Title = "NativeVq report: volumes (MOOD layout)",
            RunInfo = all,
        });
    }

    private static (bool[] Mask, bool Anomalous) Labels(string labelsDir, string rel, Volume vol, long maxVoxels)
    {
        var maskPath = Path.Combine(labelsDir, "pixel", rel);
        var samplePath = Path.Combine(labelsDir, "sample", rel + ".txt");
        bool[]? mask = null;
        if (File.Exists(maskPath))
        {
            var m = NiftiFile.Read(maskPath, maxVoxels);
            if (m.Nx != vol.Nx || m.Ny != vol.Ny || m.Nz != vol.Nz)
                throw new UserError($"{maskPath}: mask is {m.Nx}x{m.Ny}x{m.Nz} but its volume {rel} is {vol.Nx}x{vol.Ny}x{vol.Nz}");
            mask = m.Data.Select(v => v != 0).ToArray();
        }
        bool? sample = null;
        if (File.Exists(samplePath))
        {
            var text = File.ReadAllText(samplePath).Trim();
            sample = text switch
            {
                "0" => false,
                "1" => true,
                _ => throw new UserError($"{samplePath}: a sample label must be 0 or 1, got '{(text.Length > 20 ? text[..20] + "…" : text)}'"),
            };
        }
        if (mask is null && sample is null) throw new UserError($"{rel}: no label (neither {maskPath} nor {samplePath} exists)");
        if (mask is null && sample == true) throw new UserError($"{maskPath}: missing, but {rel} is labelled anomalous; voxel metrics need its mask");
        mask ??= new bool[vol.Data.LongLength];
        return (mask, sample ?? mask.Any(b => b));
    }

    /// <summary>The report row: the slice with the most anomalous voxels, or the highest-scoring slice.</summary>
    private static ReportImage View(VolumeScore s, bool[] mask, bool anomalous)
    {
        var vol = s.Input;
        int axis = s.Axis, n = vol.Extent(axis), size = s.Size;
        var maskF = mask.Select(b => b ? 1f : 0f).ToArray();
        int best = -1; double bestValue = -1;
        for (int k = 0; k < n; k++)
        {
            double v = anomalous ? vol.Slice(axis, k, maskF).Sum() : s.SliceScores[k];
            if (s.Slices[k] is not null && v > bestValue) { best = k; bestValue = v; }
        }
        if (best < 0) // every slice was skipped as empty: show a blank row
            return new ReportImage(s.Name, anomalous, anomalous ? "anomalous" : "good", (float)s.SampleScore, Enumerable.Repeat(-1f, size * size).ToArray(), null, null, s.SmoothedMaps[0], null, 1, size);
        var slice = s.Slices[best]!;
        var m = VolumeSlicing.SliceImage(vol, maskF, axis, best, size).Select(v => v > 0.5f ? (byte)1 : (byte)0).ToArray();
        return new ReportImage($"{s.Name} ({"xyz"[axis]} = {best})", anomalous, anomalous ? "anomalous" : "good", (float)s.SampleScore,
            slice.Input, slice.Reconstruction, slice.Restoration, s.SmoothedMaps[best], anomalous ? m : null, 1, size);
    }

    private static T[] Concat<T>(List<T[]> parts)
    {
        var all = new T[parts.Sum(p => p.LongLength)];
        long at = 0;
        foreach (var p in parts) { Array.Copy(p, 0, all, at, p.LongLength); at += p.LongLength; }
        return all;
    }
}
