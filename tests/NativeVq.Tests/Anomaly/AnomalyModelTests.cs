using NativeVq.Anomaly;
using NativeVq.Anomaly.Scoring;
using NativeVq.Data;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Anomaly;

/// <summary>The public library API on a tiny trained run: batching, in-memory images, bad input, concurrent callers.</summary>
[Collection("console")]
public sealed class AnomalyModelTests(TinyRun run)
{
    private static readonly AnomalyModelOptions Quick = new() { Scoring = new ScoringOptions { Restorations = 3 } };

    private string[] ImagePaths() => Directory.GetFiles(run.Images, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();

    private static void AssertSame(AnomalyResult expected, AnomalyResult actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Score, actual.Score);   // exact: same computation, whatever the batch
        Assert.Equal(expected.TotalNll, actual.TotalNll);
        Assert.Equal(expected.ResampledCodes, actual.ResampledCodes);
        Assert.Equal(expected.IsAnomalous, actual.IsAnomalous);
        Assert.Equal(expected.Map, actual.Map);
        Assert.Equal(expected.Image.Data, actual.Image.Data);
    }

    [Fact]
    public void ScoreBatchGivesExactlyWhatScoringOneByOneGives()
    {
        // Batches of 5 cut the 24 images unevenly: the last pass has 4, and no image sits where it would alone.
        using var model = AnomalyModel.Load(run.Run, "cpu", Quick with { BatchSize = 5 });
        var paths = ImagePaths();
        var batch = model.ScoreBatch(paths);
        Assert.Equal(paths.Length, batch.Count);
        Assert.Contains(batch, r => r.ResampledCodes > 0);   // restorations ran, so the maps are a real check
        for (int i = 0; i < paths.Length; i++)
        {
            var one = model.Score(paths[i]);
            AssertSame(one, batch[i]);
            Assert.Equal(model.ImageSize, one.MapWidth);
            Assert.Equal(model.ImageSize * model.ImageSize, one.Map!.Length);
            Assert.Equal(one.Score > model.Threshold, one.IsAnomalous);
        }
    }

    [Fact]
    public void TheGpuKernelsAreBatchIndependentToo()
    {
        // ilgpu-cpu runs the ILGPU kernels that cuda runs (and the incremental restorer instead of the cpu-only cached one).
        using var model = AnomalyModel.Load(run.Run, "ilgpu-cpu", new AnomalyModelOptions { Scoring = new ScoringOptions { Restorations = 1 }, BatchSize = 2 });
        var paths = ImagePaths().Where((_, i) => i % 8 == 0).ToArray();   // 3 images: a batch of 2, then 1
        var batch = model.ScoreBatch(paths);
        Assert.Contains(batch, r => r.ResampledCodes > 0);
        for (int i = 0; i < paths.Length; i++) AssertSame(model.Score(paths[i]), batch[i]);
    }

    [Fact]
    public void FileDecodedImageAndEncodedBytesScoreAlike()
    {
        using var model = AnomalyModel.Load(run.Run, "cpu", Quick);
        var path = ImagePaths()[^1];
        var fromFile = model.Score(path);
        var fromImage = model.Score(model.LoadImage(path), path);
        var fromBytes = model.Score(File.ReadAllBytes(path), path);
        AssertSame(fromFile, fromImage);
        AssertSame(fromFile, fromBytes);
        var images = ImagePaths().Take(4).Select(model.LoadImage).ToList();
        var names = Enumerable.Range(0, 4).Select(i => $"upload {i}").ToList();
        var batch = model.ScoreBatch(images, names);
        for (int i = 0; i < 4; i++) AssertSame(model.Score(images[i], names[i]), batch[i]);
    }

    [Fact]
    public void ScoreFolderNamesResultsByRelativePathInSortedOrder()
    {
        using var model = AnomalyModel.Load(run.Run, "cpu", Quick with { Maps = false });
        var results = model.ScoreFolder(run.Images);
        var expected = ImagePaths().Select(p => Path.GetRelativePath(run.Images, p).Replace('\\', '/')).ToArray();
        Assert.Equal(expected, results.Select(r => r.Name));
        Assert.All(results, r => Assert.Null(r.Map));
        // A real model: the images get different code maps, hence different likelihoods.
        Assert.True(results.Select(r => r.TotalNll).Distinct().Count() > 1, "every image has the same total NLL");
    }

    [Fact]
    public void ConcurrentCallersGetWhatSequentialCallsGet()
    {
        using var model = AnomalyModel.Load(run.Run, "cpu", Quick);
        var paths = ImagePaths().Take(8).ToArray();
        var sequential = paths.Select(model.Score).ToArray();
        var concurrent = new AnomalyResult[paths.Length];
        Parallel.For(0, paths.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => concurrent[i] = model.Score(paths[i]));
        for (int i = 0; i < paths.Length; i++) AssertSame(sequential[i], concurrent[i]);
    }

    [Fact]
    public void BadImagesAreOneLineErrorsNamingThem()
    {
        using var model = AnomalyModel.Load(run.Run, "cpu", Quick);
        var png = File.ReadAllBytes(ImagePaths()[0]);
        var truncated = Assert.Throws<UserError>(() => model.Score(png.AsSpan(0, png.Length / 2), "upload-7"));
        Assert.StartsWith("upload-7: PNG file is", truncated.Message);
        var notImage = Assert.Throws<UserError>(() => model.Score("hello"u8, "upload-8"));
        Assert.StartsWith("upload-8: not a PNG, JPEG or BMP image", notImage.Message);
        var wrongShape = Assert.Throws<UserError>(() => model.Score(new ImageF(1, 8, 8), "tiny"));
        Assert.Contains("tiny: image is 1x8x8, the model expects 1x16x16", wrongShape.Message);
        var missing = Assert.Throws<UserError>(() => AnomalyModel.Load(Path.Combine(run.Root, "nope"), "cpu"));
        Assert.Contains("nope", missing.Message);
    }
}
