using NativeVq.Anomaly.Scoring;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Kernels;
using NativeVq.Models.Training;

namespace NativeVq.Anomaly;

/// <summary>
/// A trained run folder (vqvae.nvq, prior.nvq, calibration.json, image_score.json), loaded once, that scores images: an anomaly
/// score, the decision at the run's calibrated threshold and a pixel map. This is the whole scoring path of
/// `nativevq score`; the CLI calls it too.
/// <para>
/// Results do not depend on batching: an image gets the same score and map alone, in any batch, folder or shard
/// (on one device; same seed, same result on <c>cpu</c>).
/// </para>
/// <para>
/// Thread safety: every method may be called from several threads. Scoring calls are serialised by a lock — one
/// batch runs at a time per model (the models run their own kernels in parallel already), the others wait.
/// <see cref="LoadImage"/> and <see cref="DecodeImage"/> take no lock: decode on your own threads, then hand
/// the decoded images to <see cref="ScoreBatch(IReadOnlyList{ImageF}, IReadOnlyList{string}?)"/> in one call.
/// </para>
/// </summary>
public sealed class AnomalyModel : IDisposable
{
    private readonly AnomalyScorer? _scorer;
    private readonly Runs.IRunScorer? _run;       // a VAE or GAN run instead of VQ-VAE + prior
    private readonly RunImageScore? _imageScore;  // a VQ-VAE run's image score (eval's, from image_score.json)
    private readonly AnomalyModelOptions _options;
    private readonly Backend _backend;
    private readonly bool _ownsBackend;
    private readonly object _gate = new();
    private bool _disposed;

    private AnomalyModel(AnomalyScorer? scorer, Runs.IRunScorer? run, RunImageScore? imageScore, AnomalyModelOptions options, Backend backend, bool ownsBackend, int size, int channels, double threshold)
    {
        _scorer = scorer;
        _run = run;
        _imageScore = imageScore;
        _options = options;
        _backend = backend;
        _ownsBackend = ownsBackend;
        ImageSize = size;
        Channels = channels;
        Threshold = threshold;
    }

    /// <summary>Loads a run folder on a device: auto (CUDA when present, else cpu), cpu, cuda or ilgpu-cpu.</summary>
    /// <exception cref="UserError">A missing or damaged file in the run folder (the message names it).</exception>
    /// <exception cref="DeviceUnavailableException">The device does not exist here.</exception>
    public static AnomalyModel Load(string runDir, string device = "auto", AnomalyModelOptions? options = null)
    {
        var backend = Devices.Create(device);
        bool owns = backend is not CpuBackend;   // the cpu backend is a process-wide singleton
        try { return Load(runDir, backend, options, owns); }
        catch { if (owns) backend.Dispose(); throw; }
    }

    /// <summary>Loads a run folder on a backend the caller opened (and disposes of).</summary>
    public static AnomalyModel Load(string runDir, Backend backend, AnomalyModelOptions? options = null)
        => Load(runDir, backend, options, ownsBackend: false);

    private static AnomalyModel Load(string runDir, Backend backend, AnomalyModelOptions? options, bool ownsBackend)
    {
        options ??= new AnomalyModelOptions();
        options.Scoring.Validate();
        if (options.BatchSize < 1) throw new UserError($"batch size must be at least 1, got {options.BatchSize}");
        if (options.ThresholdPercentile is not (>= 0 and <= 100)) throw new UserError($"threshold percentile must be in [0, 100], got {options.ThresholdPercentile}");
        if (Runs.RunScorers.Open(runDir, backend) is { } run)
        {
            // A VAE or GAN run: its default image score, thresholded at the percentile of its calibration images.
            var thresholds = Runs.RunCalibration.Read(runDir);
            if (!thresholds.Thresholds.TryGetValue(run.DefaultScore, out var t))
                throw new UserError($"{Path.Combine(runDir, Runs.RunCalibration.FileName)} holds no threshold for the score {run.DefaultScore}");
            return new AnomalyModel(null, run, null, options, backend, ownsBackend, run.ImageSize, run.Channels, t);
        }
        var vq = ModelStore.LoadVqVae(runDir, backend);
        var prior = ModelStore.LoadPrior(runDir, backend);
        var cal = ModelStore.LoadCalibration(runDir);
        var o = options.Scoring;
        var scorer = new AnomalyScorer(vq, prior, o.Lambda ?? cal.Lambda, o.Tau ?? cal.Tau, o, options.Restorer ?? RestorerFactory.Fast()) { Bank = FeatureBank.Read(runDir) };
        var imageScore = RunImageScore.Resolve(runDir, options.ImageScore, options.Maps, scorer, vq.Config.ImageSize, cal, options.ThresholdPercentile);
        return new AnomalyModel(scorer, null, imageScore, options, backend, ownsBackend, vq.Config.ImageSize, vq.Config.ImageChannels, imageScore.Threshold);
    }

    /// <summary>The run's model: "vqvae" (VQ-VAE + PixelSNAIL), "vae" or "gan".</summary>
    public string Kind => _run?.Kind ?? "vqvae";

    /// <summary>
    /// What <see cref="AnomalyResult.Score"/> is: a VQ-VAE run's image score (eval's default, e.g. complexity+knn+map-topk;
    /// see <see cref="ImageScorer"/>), or the named score of a VAE / GAN run.
    /// </summary>
    public string ScoreName => _run?.DefaultScore ?? _imageScore!.Scorer.Name;

    /// <summary>
    /// Null when a VQ-VAE run scores with the image score asked for (eval's default unless
    /// <see cref="AnomalyModelOptions.ImageScore"/> says otherwise); else which score is used instead and why
    /// (e.g. a run from before image_score.json existed).
    /// </summary>
    public string? ScoreNote => _imageScore?.Note;

    /// <summary>Side of the square input the model takes; every image is resized to it (central square crop, then resampling).</summary>
    public int ImageSize { get; }

    /// <summary>1 (grayscale) or 3 (RGB); images in the other layout are converted.</summary>
    public int Channels { get; }

    /// <summary>
    /// The decision threshold on <see cref="AnomalyResult.Score"/>: for a VQ-VAE run the
    /// <see cref="AnomalyModelOptions.ThresholdPercentile"/> percentile of the image scores of the run's calibration
    /// images (image_score.json), as `eval` places it.
    /// </summary>
    public double Threshold { get; }

    /// <summary>λ in nats: codes with a larger NLL count towards the score (NaN for a VAE or GAN run).</summary>
    public double Lambda => _scorer?.Lambda ?? double.NaN;

    /// <summary>τ in nats: codes with a larger NLL are redrawn by the restorations (NaN for a VAE or GAN run).</summary>
    public double Tau => _scorer?.Tau ?? double.NaN;

    /// <summary>The device it runs on (cpu, cuda, ilgpu-cpu).</summary>
    public string Device => _backend.Name;

    public AnomalyModelOptions Options => _options;

    /// <summary>How images are decoded and resized for this model.</summary>
    public ImageLoadOptions ImageOptions => new() { Size = ImageSize, Channels = Channels };

    /// <summary>Decodes an image file and resizes it to the model's input. Thread-safe, no lock.</summary>
    public ImageF LoadImage(string path) => ImageIO.Load(path, ImageOptions);

    /// <summary>
    /// Decodes an encoded PNG, JPEG or BMP file held in memory and resizes it to the model's input. Thread-safe,
    /// no lock. A damaged, truncated or oversized image is a <see cref="UserError"/> whose message starts with
    /// <paramref name="nameForErrors"/>.
    /// </summary>
    public ImageF DecodeImage(ReadOnlySpan<byte> encodedImage, string nameForErrors)
    {
        var img = new ImageF(Channels, ImageSize, ImageSize);
        ImageIO.LoadInto(encodedImage.ToArray(), nameForErrors, img.Data, ImageOptions);
        return img;
    }

    /// <summary>Scores one image file.</summary>
    public AnomalyResult Score(string imagePath) => ScoreBatch([imagePath])[0];

    /// <summary>Scores one decoded image shaped like the model's input (<see cref="LoadImage"/>, <see cref="DecodeImage"/>).</summary>
    public AnomalyResult Score(ImageF image, string name = "image") => ScoreBatch([image], [name])[0];

    /// <summary>Scores one encoded PNG/JPEG/BMP file held in memory (an upload, an HTTP body).</summary>
    public AnomalyResult Score(ReadOnlySpan<byte> encodedImage, string nameForErrors)
        => Score(DecodeImage(encodedImage, nameForErrors), nameForErrors);

    /// <summary>Scores image files in batches; results in the order given, the same as scoring each alone.</summary>
    public IReadOnlyList<AnomalyResult> ScoreBatch(IReadOnlyList<string> imagePaths, Action<int>? progress = null)
        => ScoreDataset(new ImagePaths(imagePaths, ImageOptions), progress: progress);

    /// <summary>Scores decoded images (each shaped like the model's input) in batches; the same as scoring each alone.</summary>
    public IReadOnlyList<AnomalyResult> ScoreBatch(IReadOnlyList<ImageF> images, IReadOnlyList<string>? names = null)
        => ScoreDataset(new DecodedImages(images, names, Channels, ImageSize));

    /// <summary>Scores every PNG/JPEG/BMP under a folder (recursive), in ordinal order of their relative paths (the result names).</summary>
    public IReadOnlyList<AnomalyResult> ScoreFolder(string folder, Action<int>? progress = null)
        => ScoreDataset(new FolderDataset(folder, ImageOptions), progress: progress);

    /// <summary>
    /// Scores images <paramref name="indices"/> (default: all) of a dataset of the model's shape — any of
    /// NativeVq.Data's datasets. <paramref name="progress"/> receives the count of images done; <paramref name="scored"/>
    /// each result as soon as it exists (to write it out incrementally). An image that cannot be read stops the call
    /// with its <see cref="UserError"/>, unless <paramref name="failed"/> is given: it then receives (index, error)
    /// and the other images are scored.
    /// </summary>
    public IReadOnlyList<AnomalyResult> ScoreDataset(IImageDataset data, IReadOnlyList<int>? indices = null, Action<int>? progress = null,
        Action<AnomalyResult>? scored = null, Action<int, UserError>? failed = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        indices ??= Enumerable.Range(0, data.Count).ToArray();
        var results = new List<AnomalyResult>(indices.Count);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_run is not null)
            {
                Runs.RunScorers.Score(_run, data, indices, progress, _options.BatchSize,
                    scored: s => { var r = ToResult(s); results.Add(r); scored?.Invoke(r); }, failed: failed);
                return results;
            }
            _scorer!.Score(data, indices, _options.Maps, progress, _options.BatchSize, seedByIndex: false,
                scored: s => { var r = ToResult(s); results.Add(r); scored?.Invoke(r); }, failed: failed);
        }
        return results;
    }

    private AnomalyResult ToResult(ImageScore s) => new()
    {
        Name = s.Name,
        Score = _imageScore!.Scorer.Score(s),
        Threshold = Threshold,
        Map = s.Map,
        MapWidth = s.Map is null ? 0 : ImageSize,
        MapHeight = s.Map is null ? 0 : ImageSize,
        TotalNll = s.TotalNll,
        ResampledCodes = s.ResampledCodes,
        Image = new ImageF(Channels, ImageSize, ImageSize, s.Input),
    };

    private AnomalyResult ToResult(Runs.ScoredImage s) => new()
    {
        Name = s.Name,
        Score = s.Scores[_run!.DefaultScore],
        Threshold = Threshold,
        Map = _options.Maps ? s.Map : null,
        MapWidth = _options.Maps ? ImageSize : 0,
        MapHeight = _options.Maps ? ImageSize : 0,
        Image = new ImageF(Channels, ImageSize, ImageSize, s.Input),
    };

    /// <summary>Releases the device memory when the model opened its own device (not the shared cpu backend).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (_ownsBackend) _backend.Dispose();
        }
    }
}
