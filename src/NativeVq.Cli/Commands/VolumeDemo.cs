using System.CommandLine;
using System.Globalization;
using NativeVq.Anomaly.Scoring;
using NativeVq.Anomaly.Volumes;
using NativeVq.Data;
using NativeVq.Data.Volumes;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>
/// `nativevq demo --volumes`: the first source paper's setting on generated phantoms. It writes normal training
/// volumes and a test set with artefacts and voxel masks as NIfTI files in the MOOD toy layout, trains the VQ-VAE
/// and the prior on the non-empty slices of the training volumes (through the same volume dataset as
/// `train --format nifti`), scores the test volumes (MOOD submission files) and evaluates sample and voxel AP.
/// </summary>
internal sealed class VolumeDemo
{
    public Option<int> VolumeSize { get; } = new("--volume-size") { Description = "demo --volumes: side of the generated cubic phantom volumes (voxels).", DefaultValueFactory = _ => 48 };
    public Option<int> TrainVolumes { get; } = new("--train-volumes") { Description = "demo --volumes: normal training volumes to generate.", DefaultValueFactory = _ => 24 };
    public Option<int> TestVolumes { get; } = new("--test-volumes") { Description = "demo --volumes: test volumes to generate (every other one with an artefact).", DefaultValueFactory = _ => 16 };
    public Option<int> SliceSize { get; } = new("--slice-size") { Description = "demo --volumes: slices are resized to this many pixels per side for the models.", DefaultValueFactory = _ => 32 };

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { VolumeSize, TrainVolumes, TestVolumes, SliceSize }) c.Options.Add(o);
    }

    public int Run(ParseResult r, Backend backend, string dir, ulong seed, int vqEpochs, int priorEpochs, int restorations)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int n = r.GetValue(VolumeSize), size = r.GetValue(SliceSize);
        string data = Path.Combine(dir, "data"), run = Path.Combine(dir, "run"), report = Path.Combine(dir, "report"), scores = Path.Combine(dir, "scores");
        foreach (var d in new[] { data, run, scores }) if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
        var slicing = new VolumeOptions { SkipEmpty = true };

        Console.Error.WriteLine($"demo 1/5: generating {r.GetValue(TrainVolumes)} normal and {r.GetValue(TestVolumes)} test phantom volumes ({n}³) → {data}");
        int anomalous = Generate(data, n, seed, r.GetValue(TrainVolumes), r.GetValue(TestVolumes));

        var train = new VolumeDataset(Path.Combine(data, "train"), size, slicing);
        Console.Error.WriteLine($"demo 2/5: VQ-VAE on {train.Count} non-empty {size}x{size} slices of {train.VolumeCount} volumes → {run}");
        var vq = new VqVaeTrainer(backend, train, VqVaeConfig.ForImage(size, 1) with { Ema = true },
            new VqVaeTrainOptions { Out = run, Epochs = vqEpochs, Batch = 32, Lr = 1e-3f, Seed = seed })
            { Progress = new ConsoleProgress(), Notice = ConsoleProgress.Notice }.Run();

        Console.Error.WriteLine("demo 3/5: encoding and training the PixelSNAIL prior");
        var maps = CodeMaps.Encode(vq, train, backend, progress: new ConsoleProgress());
        int held = maps.Count / 10;
        var prior = new PriorTrainer(backend, maps.Take(Enumerable.Range(held, maps.Count - held).ToArray()), maps.Take(Enumerable.Range(0, held).ToArray()),
            PixelSnailConfig.ForGrid(vq.Config.CodebookSize, maps.Height, maps.Width),
            new PriorTrainOptions { Out = run, Epochs = priorEpochs, Batch = 32, Lr = 1e-3f, Schedule = "cosine", Seed = seed })
            { Progress = new ConsoleProgress(), Notice = ConsoleProgress.Notice }.Run();

        Console.Error.WriteLine($"demo 4/5: scoring {r.GetValue(TestVolumes)} test volumes ({anomalous} with an artefact) slice by slice, MOOD files → {scores}");
        var cal = ModelStore.LoadCalibration(run);
        var options = new ScoringOptions { Restorations = restorations, Seed = seed };
        var scorer = new VolumeScorer(vq, prior, cal.Lambda, cal.Tau, options, RestorerFactory.Fast(), new VolumeScoringOptions { Slicing = slicing });
        var result = VolumeCommands.Evaluate(scorer, Path.Combine(data, "test"), Path.Combine(data, "test_label"), slicing.MaxVoxels,
            s => VolumeScorer.WriteMood(scores, s.Name, s));

        Console.Error.WriteLine($"demo 5/5: report → {report}");
        var html = VolumeEvaluation.WriteReport(report, result, new Dictionary<string, string>
        {
            ["run"] = Path.GetFullPath(run),
            ["device"] = backend.Name,
            ["test volumes"] = $"{Path.GetFullPath(Path.Combine(data, "test"))} (generated phantoms, {n}³)",
            ["λ / τ (nats)"] = string.Create(CultureInfo.InvariantCulture, $"{cal.Lambda:F3} / {cal.Tau:F3}"),
        });
        VolumeCommands.PrintSummary(result.Metrics);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"demo --volumes done in {clock.Elapsed.TotalSeconds:F0} s; open {html}"));
        return 0;
    }

    /// <summary>Writes train/, test/ and test_label/{pixel,sample}/ (the MOOD toy layout); returns the anomalous test count.</summary>
    private static int Generate(string data, int n, ulong seed, int trainCount, int testCount)
    {
        var normal = new PhantomVolumes(n, seed);
        Parallel.For(0, trainCount, i => NiftiFile.Write(Path.Combine(data, "train", $"train_{i:D3}.nii.gz"), normal.Generate(i).Volume));
        // Every other test volume carries an artefact: exactly half, whatever the count.
        var good = new PhantomVolumes(n, seed + 1_000_003);
        var bad = new PhantomVolumes(n, seed + 2_000_003, anomalyFraction: 1f);
        int anomalous = 0;
        Parallel.For(0, testCount, i =>
        {
            var (vol, mask, _) = (i % 2 == 1 ? bad : good).Generate(i);
            string name = $"test_{i:D3}.nii.gz";
            NiftiFile.Write(Path.Combine(data, "test", name), vol);
            NiftiFile.Write(Path.Combine(data, "test_label", "pixel", name), vol.WithData(mask ?? new float[vol.Data.Length]), NiftiType.UInt8);
            var label = System.Text.Encoding.ASCII.GetBytes(mask is null ? "0\n" : "1\n");
            ImageIO.WriteAtomic(Path.Combine(data, "test_label", "sample", name + ".txt"), s => s.Write(label));
            if (mask is not null) Interlocked.Increment(ref anomalous);
        });
        return anomalous;
    }
}
