using System.CommandLine;
using System.Globalization;
using NativeVq.Anomaly.Scoring;
using NativeVq.Anomaly.Volumes;
using NativeVq.Data;
using NativeVq.Data.Volumes;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>
/// The `--volumes` branches of `score` and `eval` (NIfTI volumes in, the MOOD challenge layout out). Kept apart from
/// the image commands: they add their options through <see cref="VolumeCommandOptions"/> and hand over here.
/// </summary>
internal static class VolumeCommands
{
    /// <summary>`score --volumes`: per input CASE (a .nii / .nii.gz), OUT/pixel/CASE and OUT/sample/CASE.txt.</summary>
    public static int Score(ParseResult r, VolumeCommandOptions v, ScoringCliOptions scoring, string runDir, string input, string outDir, Backend backend, ulong seed)
    {
        var scorer = v.LoadScorer(r, scoring, runDir, backend, seed);
        var (root, files) = Inputs(input);
        var bar = new ProgressBar("volumes", files.Length);
        for (int i = 0; i < files.Length; i++)
        {
            var s = scorer.Score(Path.Combine(root, files[i]), files[i]);
            VolumeScorer.WriteMood(outDir, files[i], s);
            bar.Update(i + 1, i + 1, string.Create(CultureInfo.InvariantCulture, $"{files[i]}: {s.SampleScore:F1}"));
        }
        bar.Finish($"{files.Length} volumes");
        Console.WriteLine($"{files.Length} volumes scored (MOOD layout): voxel scores in {Path.Combine(outDir, "pixel")}, sample scores in {Path.Combine(outDir, "sample")}");
        return 0;
    }

    /// <summary>`eval --volumes`: sample and voxel AP/AUROC against MOOD-style labels, HTML report with slice views.</summary>
    public static int Eval(ParseResult r, VolumeCommandOptions v, ScoringCliOptions scoring, string runDir, string data, string outDir, Backend backend, ulong seed)
    {
        var scorer = v.LoadScorer(r, scoring, runDir, backend, seed);
        var labels = r.GetValue(v.Labels) ?? VolumeEvaluation.DefaultLabels(data);
        var run = Evaluate(scorer, data, labels, v.Slicing.Options(r).MaxVoxels);
        var html = VolumeEvaluation.WriteReport(outDir, run, new Dictionary<string, string>
        {
            ["run"] = Path.GetFullPath(runDir),
            ["volumes"] = Path.GetFullPath(data),
            ["labels"] = Path.GetFullPath(labels),
            ["device"] = backend.Name,
            ["λ / τ (nats)"] = string.Create(CultureInfo.InvariantCulture, $"{scorer.Lambda:F3} / {scorer.Tau:F3}"),
        });
        PrintSummary(run.Metrics);
        Console.WriteLine($"report: {html}");
        return 0;
    }

    internal static VolumeEvaluationRun Evaluate(VolumeScorer scorer, string data, string labels, long maxVoxels, Action<VolumeScore>? scored = null)
    {
        ProgressBar? bar = null;
        var run = VolumeEvaluation.Run(scorer, data, labels, maxVoxels, (done, total) => (bar ??= new ProgressBar("volumes", total)).Update(done, done, ""), scored);
        bar?.Finish($"{run.Metrics.Cases} volumes");
        return run;
    }

    internal static void PrintSummary(VolumeMetrics m)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sample AP {m.SampleAp:F4}  AUROC {m.SampleAuroc:F4} ({m.Cases} volumes, {m.AnomalousCases} anomalous)\nvoxel  AP {m.VoxelAp:F4}  AUROC {m.VoxelAuroc:F4} ({m.Voxels} voxels, {m.AnomalousVoxels} anomalous)"));
        Console.WriteLine("sample AP / AUROC by aggregation of the slice scores: " +
            string.Join(", ", m.ByAggregation.Select(a => string.Create(CultureInfo.InvariantCulture, $"{a.Aggregation} {a.SampleAp:F4} / {a.SampleAuroc:F4}"))));
    }

    /// <summary>One volume file, or every volume under a folder (recursive, ordinal order).</summary>
    private static (string Root, string[] Files) Inputs(string input)
    {
        if (File.Exists(input))
        {
            if (!NiftiFile.IsNiftiName(input)) throw new UserError($"{input}: with --volumes the input must be a .nii / .nii.gz volume or a folder of them");
            return (Path.GetDirectoryName(Path.GetFullPath(input))!, [Path.GetFileName(input)]);
        }
        if (!Directory.Exists(input)) throw new UserError($"{input}: not found");
        var files = VolumeDataset.List(input);
        if (files.Length == 0) throw new UserError($"{input}: no NIfTI volumes found (.nii, .nii.gz, in all subfolders)");
        return (input, files);
    }
}

/// <summary>The options `score` and `eval` gain for volumes.</summary>
internal sealed class VolumeCommandOptions
{
    public Option<bool> Volumes { get; } = new("--volumes") { Description = "Inputs are NIfTI-1 volumes (.nii/.nii.gz): score them slice by slice and write the MOOD layout (score: OUT/pixel/CASE, OUT/sample/CASE.txt; eval: sample and voxel AP/AUROC). See docs/volumes.md." };
    public Option<string> Aggregate { get; } = new("--aggregate") { Description = "Volumes: the sample score from the slices' MOOD scores: sum (the MOOD score over every code of the volume), max or mean.", DefaultValueFactory = _ => "sum" };
    public Option<string?> Labels { get; } = new("--labels") { Description = "eval --volumes: labels folder with pixel/CASE masks and sample/CASE.txt (0/1). Default: the data folder's name + _label beside it (the MOOD toy layout)." };
    public VolumeCliOptions Slicing { get; } = new();

    public void AddTo(Command c, bool labels)
    {
        c.Options.Add(Volumes); c.Options.Add(Aggregate);
        if (labels) c.Options.Add(Labels);
        Slicing.AddTo(c);
    }

    public VolumeScorer LoadScorer(ParseResult r, ScoringCliOptions scoring, string runDir, Backend backend, ulong seed)
    {
        var vq = ModelStore.LoadVqVae(runDir, backend);
        var prior = ModelStore.LoadPrior(runDir, backend);
        var cal = ModelStore.LoadCalibration(runDir);
        var o = scoring.Options(r, seed);
        var scorer = new VolumeScorer(vq, prior, o.Lambda ?? cal.Lambda, o.Tau ?? cal.Tau, o, scoring.CreateRestorer(r), new VolumeScoringOptions
        {
            Slicing = Slicing.Options(r),
            Aggregation = VolumeScoringOptions.ParseAggregation(r.GetValue(Aggregate)!),
        });
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"scoring volumes: λ = {scorer.Lambda:F3} nats, τ = {scorer.Tau:F3} nats, {o.Restorations} restorations per slice, 3D smoothing min {o.MinPool ?? ScoringOptions.MoodMinPool} / avg {o.AvgPool ?? ScoringOptions.MoodAvgPool}, sample = {r.GetValue(Aggregate)} over slices"));
        return scorer;
    }
}
