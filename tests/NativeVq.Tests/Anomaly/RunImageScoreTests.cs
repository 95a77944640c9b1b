using NativeVq.Anomaly;
using NativeVq.Anomaly.Evaluation;
using NativeVq.Anomaly.Scoring;
using NativeVq.Data;
using NativeVq.Kernels;
using NativeVq.Models.Training;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Anomaly;

/// <summary>
/// The product's score path (AnomalyModel: score, serve) ranks by the same image score as eval, fitted from the
/// run's image_score.json, with eval's threshold; runs without that file fall back with a note.
/// </summary>
[Collection("console")]
public sealed class RunImageScoreTests(TinyRun run)
{
    private string Good => Path.Combine(run.Images, "good");

    private EvaluationRun Evaluate(bool stored, bool maps = true)
    {
        var backend = Devices.Create("cpu");
        var vq = ModelStore.LoadVqVae(run.Run, backend);
        var prior = ModelStore.LoadPrior(run.Run, backend);
        var cal = ModelStore.LoadCalibration(run.Run);
        var scorer = new AnomalyScorer(vq, prior, cal.Lambda, cal.Tau, new ScoringOptions(), RestorerFactory.Fast());
        var opts = new ImageLoadOptions { Size = 16, Channels = 1 };
        var split = CalibrationSplit.Read(run.Run)!;
        var normals = new FolderDataset(Good, opts);
        split.Check(normals, "test");
        var reference = new EvaluationReference(normals, split.Calibration, split.TrainingIndices()) { Stored = stored ? ImageScoreCalibration.Read(run.Run) : null };
        return AnomalyEvaluation.Run(scorer, EvalSet.Folder(new FolderDataset(run.Images, opts)), reference, null, new EvaluationSettings { Baselines = false, Maps = maps, ImageScore = maps ? ImageScoreDefaults.Default : ImageScoreDefaults.WithoutMaps });
    }

    [Fact]
    public void WithoutMapsTheKnnDefaultIsEvalsToo()
    {
        using var model = AnomalyModel.Load(run.Run, "cpu", new AnomalyModelOptions { Maps = false });
        Assert.Null(model.ScoreNote);
        Assert.Equal(ImageScoreDefaults.WithoutMaps, model.ScoreName);
        Assert.True(new ImageScorer(model.ScoreName, 1).NeedsBank);
        var results = model.ScoreFolder(run.Images).ToDictionary(r => r.Name);
        foreach (bool stored in new[] { false, true })
        {
            var ev = Evaluate(stored, maps: false);
            Assert.Equal(ImageScoreDefaults.WithoutMaps, ev.ImageScoreName);
            Assert.All(ev.Scores, s => Assert.NotNull(s.Knn));
            for (int k = 0; k < ev.Scores.Count; k++)
                Assert.Equal(ev.ImageScores[k], (float)results[ev.Scores[k].Name].Score);
            Assert.Equal(ev.Sample.Threshold!.Value, model.Threshold);
        }
    }

    [Fact]
    public void ModelScoresAndThresholdAreEvalsOnTheSameImages()
    {
        using var model = AnomalyModel.Load(run.Run, "cpu");
        Assert.Null(model.ScoreNote);
        Assert.Equal(ImageScoreDefaults.Default, model.ScoreName);
        var results = model.ScoreFolder(run.Images).ToDictionary(r => r.Name);
        Assert.Contains(results.Values, r => r.ResampledCodes > 0);   // the map part is exercised

        // Eval scoring the calibration images afresh, and eval reading image_score.json: the same numbers as the model.
        foreach (bool stored in new[] { false, true })
        {
            var ev = Evaluate(stored);
            Assert.Equal(ImageScoreDefaults.Default, ev.ImageScoreName);
            Assert.Equal(run.ImageCount, ev.Scores.Count);
            for (int k = 0; k < ev.Scores.Count; k++)
                Assert.Equal(ev.ImageScores[k], (float)results[ev.Scores[k].Name].Score);
            Assert.Equal(ev.Sample.Threshold!.Value, model.Threshold);
            var normals = results.Values.Where(r => r.Name.StartsWith("good/", StringComparison.Ordinal)).ToList();
            Assert.Equal(ev.Fpr!.TestNormals, normals.Count);
            Assert.Equal(ev.Fpr.FalsePositives, normals.Count(r => r.IsAnomalous));
            Assert.Equal(ev.Fpr.MeasuredFpr, (double)normals.Count(r => r.IsAnomalous) / normals.Count, 12);
        }
    }

    [Fact]
    public void OtherMapSettingsFallBackToTheLatentDefaultWithANote()
    {
        using var model = AnomalyModel.Load(run.Run, "cpu", new AnomalyModelOptions { Scoring = new ScoringOptions { Restorations = 3 } });
        Assert.Equal(ImageScoreDefaults.WithoutMaps, model.ScoreName);
        Assert.Contains("restorations 15", model.ScoreNote);
        Assert.Contains("nativevq calibrate", model.ScoreNote);
        // Asked for explicitly, a score the file cannot give is an error naming why, not another score.
        var e = Assert.Throws<UserError>(() => AnomalyModel.Load(run.Run, "cpu", new AnomalyModelOptions { Scoring = new ScoringOptions { Restorations = 3 }, ImageScore = "map-topk" }));
        Assert.Contains("restorations", e.Message);
        // Without maps the latent default needs no map settings: calibrated, no note.
        using var latent = AnomalyModel.Load(run.Run, "cpu", new AnomalyModelOptions { Maps = false });
        Assert.Equal(ImageScoreDefaults.WithoutMaps, latent.ScoreName);
        Assert.Null(latent.ScoreNote);
    }

    [Fact]
    public void ARunWithoutAFeatureBankRanksByTheDefaultWithoutKnnAndSaysSo()
    {
        Assert.NotNull(FeatureBank.Read(run.Run));   // `train prior` wrote it
        Assert.True(ImageScoreCalibration.Read(run.Run)!.Images.All(f => f.Knn is not null));
        var old = run.NewFolder("no-bank");
        foreach (var f in Directory.GetFiles(run.Run).Where(f => Path.GetFileName(f) != FeatureBank.FileName))
            File.Copy(f, Path.Combine(old, Path.GetFileName(f)));
        using var latent = AnomalyModel.Load(old, "cpu", new AnomalyModelOptions { Maps = false });
        Assert.Equal(ImageScoreDefaults.WithoutBank(ImageScoreDefaults.WithoutMaps), latent.ScoreName);
        Assert.Contains(FeatureBank.FileName, latent.ScoreNote);
        // Asked for explicitly, knn without a bank is an error naming the file.
        var e = Assert.Throws<UserError>(() => AnomalyModel.Load(old, "cpu", new AnomalyModelOptions { Maps = false, ImageScore = "knn" }));
        Assert.Contains(FeatureBank.FileName, e.Message);
    }

    [Fact]
    public void ARunFromBeforeScoresWithTheSeedsScoreAndSaysSo()
    {
        var old = run.NewFolder("old-run");
        foreach (var f in Directory.GetFiles(run.Run).Where(f => Path.GetFileName(f) != ImageScoreCalibration.FileName))
            File.Copy(f, Path.Combine(old, Path.GetFileName(f)));
        var cal = ModelStore.LoadCalibration(old);
        using var model = AnomalyModel.Load(old, "cpu", new AnomalyModelOptions { Maps = false });
        Assert.Equal(ImageScoreDefaults.Seeds, model.ScoreName);
        Assert.Contains($"no {ImageScoreCalibration.FileName}", model.ScoreNote);
        Assert.Equal(cal.SampleScoreThreshold, model.Threshold);
        var r = model.Score(Directory.GetFiles(Good, "*.png").Order(StringComparer.Ordinal).First());
        Assert.True(r.Score >= 0 && r.Score <= r.TotalNll + 1e-9);   // Σ NLL > λ is part of the total NLL
        // A stale file (written for other checkpoints: the models were retrained since) is not used either.
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(run.Run, ImageScoreCalibration.FileName)))!;
        json["checkpoints_sha256"] = new string('0', 64);
        File.WriteAllText(Path.Combine(old, ImageScoreCalibration.FileName), json.ToJsonString());
        using var stale = AnomalyModel.Load(old, "cpu", new AnomalyModelOptions { Maps = false });
        Assert.Equal(ImageScoreDefaults.Seeds, stale.ScoreName);
        Assert.Contains("other checkpoints", stale.ScoreNote);
    }

    [Fact]
    public void TheFileRoundTripsTheCalibrationValuesExactly()
    {
        var file = ImageScoreCalibration.Read(run.Run)!;
        Assert.True(file.MatchesCheckpoints(run.Run));
        Assert.True(file.Maps);
        Assert.Equal(CalibrationSplit.Read(run.Run)!.Names, file.Names);
        var copy = run.NewFolder("roundtrip");
        foreach (var f in Directory.GetFiles(run.Run)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        file.Write(copy);
        var back = ImageScoreCalibration.Read(copy)!;
        Assert.Equal(file.Images, back.Images);
        Assert.Equal(file.Calibrated(ImageScoreDefaults.Default, file.Lambda, 95).Threshold, back.Calibrated(ImageScoreDefaults.Default, back.Lambda, 95).Threshold);
        File.WriteAllText(Path.Combine(copy, ImageScoreCalibration.FileName), "{\"version\": 1}");
        var e = Assert.Throws<UserError>(() => ImageScoreCalibration.Read(copy));
        Assert.Contains(ImageScoreCalibration.FileName, e.Message);
    }
}
