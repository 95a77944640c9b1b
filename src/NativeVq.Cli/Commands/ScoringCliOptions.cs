using System.CommandLine;
using NativeVq.Anomaly;
using NativeVq.Anomaly.Scoring;
using NativeVq.Models;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>The scoring constants as options; defaults are the papers' values (design.md §1.3).</summary>
internal sealed class ScoringCliOptions
{
    public Option<double?> Lambda { get; } = new("--lambda") { Description = "Absolute sample-score threshold λ in nats (MOOD used 7). Default: the calibrated percentile from calibration.json." };
    public Option<double?> Tau { get; } = new("--tau") { Description = "Absolute resampling threshold τ in nats (MOOD used 5). Default: the calibrated percentile from calibration.json." };
    public Option<string> Rule { get; } = new("--rule") { Description = "Which codes to resample: neighbour (NLL > τ and also somewhere in the bottom half of the 8-neighbourhood; the default) or threshold (NLL > τ, MOOD).", DefaultValueFactory = _ => "neighbour" };
    public Option<string> Reference { get; } = new("--reference") { Description = "Pixel map compares restorations with the input (MOOD) or with the VQ-VAE reconstruction.", DefaultValueFactory = _ => "input" };
    public Option<int> Restorations { get; } = new("--restorations") { Description = "Restorations per image (MOOD: 15).", DefaultValueFactory = _ => 15 };
    public Option<string> Weighting { get; } = new("--weighting") { Description = "Combine restorations by softmax(-c·L1) weights (softmax) or a plain mean (mean).", DefaultValueFactory = _ => "softmax" };
    public Option<float> WeightC { get; } = new("--weight-c") { Description = "The c of the softmax weighting.", DefaultValueFactory = _ => 3f };
    public Option<int?> MinPool { get; } = new("--min-pool") { Description = "Min-pool window of the map smoothing (1 = off). Default: MOOD's 3 (made for 128 px) scaled to the image size, 1 below 128 px." };
    public Option<int?> AvgPool { get; } = new("--avg-pool") { Description = "Average-pool window after the min-pool (1 = off). Default: MOOD's 7 (made for 128 px) scaled to the image size: 1 at 32 px, 3 at 64 px, 7 at 128 px." };
    public Option<string> Recipe { get; } = new("--recipe") { Description = "default (the best measured settings, docs/results.md) or seeds: the papers' exact recipe (MOOD image score Σ NLL>λ, min-pool 3, average-pool 7, map against the input, threshold rule, 15 softmax-weighted restorations); options given explicitly still apply.", DefaultValueFactory = _ => "default" };
    public Option<string> ImageScore { get; } = new("--image-score") { Description = $"Image score: mood (the seeds' Σ NLL>λ), mean-nll, max-nll, map-topk (top 1 % of the pixel map), complexity (NLL bits − β·Deflate bits, Serrà et al. 2020), recon (reconstruction error), knn (distance of the encoder output to the nearest training image's, feature_bank.bin), or parts joined by '+' (rank-normalised on the calibration images and summed). Default {ImageScoreDefaults.Default}; with --no-maps {ImageScoreDefaults.WithoutMaps}. The seeds' exact recipe: --recipe seeds.", DefaultValueFactory = _ => ImageScoreDefaults.Default };
    public Option<string> Restorer { get; } = new("--restorer") { Description = "fast (incremental, batched) or naive (one full prior pass per resampled code); both draw the same restorations.", DefaultValueFactory = _ => "fast" };

    /// <param name="imageScores">Offer --image-score (eval, demo, score).</param>
    public void AddTo(Command c, bool imageScores = true)
    {
        foreach (var o in new Option[] { Lambda, Tau, Rule, Reference, Restorations, Weighting, WeightC, MinPool, AvgPool, Restorer, Recipe }) c.Options.Add(o);
        if (imageScores) c.Options.Add(ImageScore);
    }

    private bool Seeds(ParseResult r) => r.GetValue(Recipe) switch
    {
        "default" => false,
        "seeds" => true,
        var v => throw new UserError($"--recipe must be default or seeds, got '{v}'"),
    };

    /// <summary>The image score asked for: --image-score when given, else the recipe's.</summary>
    public string ImageScoreSpec(ParseResult r, bool maps = true)
        => !Implicit(r, ImageScore) ? r.GetValue(ImageScore)! : Seeds(r) ? ImageScoreDefaults.Seeds : maps ? ImageScoreDefaults.Default : ImageScoreDefaults.WithoutMaps;

    /// <summary>--image-score when given on the command line, else null (a VAE or GAN run then uses its own default).</summary>
    public string? ExplicitImageScore(ParseResult r) => Implicit(r, ImageScore) ? null : r.GetValue(ImageScore);
    /// <summary>The image score asked for explicitly (--image-score, or the seeds' under --recipe seeds); null = the run's default.</summary>
    public string? RequestedImageScore(ParseResult r)
        => !Implicit(r, ImageScore) ? r.GetValue(ImageScore)! : Seeds(r) ? ImageScoreDefaults.Seeds : null;

    private static bool Implicit(ParseResult r, Option o) => r.GetResult(o) is null or { Implicit: true };

    public ScoringOptions Options(ParseResult r, ulong seed)
    {
        bool seeds = Seeds(r);
        var o = new ScoringOptions
        {
            Lambda = r.GetValue(Lambda),
            Tau = r.GetValue(Tau),
            Rule = seeds && Implicit(r, Rule) ? ResampleRule.Threshold : r.GetValue(Rule) switch { "threshold" => ResampleRule.Threshold, "neighbour" or "neighbor" => ResampleRule.Neighbour, var v => throw new UserError($"--rule must be threshold or neighbour, got '{v}'") },
            Reference = r.GetValue(Reference) switch { "input" => MapReference.Input, "reconstruction" => MapReference.Reconstruction, var v => throw new UserError($"--reference must be input or reconstruction, got '{v}'") },
            Restorations = r.GetValue(Restorations),
            SoftmaxWeights = r.GetValue(Weighting) switch { "softmax" => true, "mean" => false, var v => throw new UserError($"--weighting must be softmax or mean, got '{v}'") },
            WeightSharpness = r.GetValue(WeightC),
            MinPool = r.GetValue(MinPool) ?? (seeds ? ScoringOptions.MoodMinPool : null),
            AvgPool = r.GetValue(AvgPool) ?? (seeds ? ScoringOptions.MoodAvgPool : null),
            Seed = seed,
        };
        o.Validate();
        return o;
    }

    public IRestorer CreateRestorer(ParseResult r) => r.GetValue(Restorer) switch
    {
        "naive" => new NaiveRestorer(),
        "fast" => RestorerFactory.Fast(),
        var v => throw new UserError($"--restorer must be fast or naive, got '{v}'"),
    };

    /// <summary>
    /// The scorer for a run folder: models, calibration, and the thresholds actually used. The VQ-VAE is returned too,
    /// so callers need not load it again (each load is another copy of its weights in memory).
    /// </summary>
    public (AnomalyScorer Scorer, ModelStore.Calibration Calibration, VqVae VqVae) Load(ParseResult r, string runDir, Backend backend, ulong seed, bool maps = true)
    {
        var vq = ModelStore.LoadVqVae(runDir, backend);
        var prior = ModelStore.LoadPrior(runDir, backend);
        var cal = ModelStore.LoadCalibration(runDir);
        var o = Options(r, seed);
        var scorer = new AnomalyScorer(vq, prior, o.Lambda ?? cal.Lambda, o.Tau ?? cal.Tau, o, CreateRestorer(r)) { Bank = FeatureBank.Read(runDir) };
        Describe(scorer.Lambda, scorer.Tau, o, vq.Config.ImageSize);
        Console.Error.WriteLine($"image score: {ImageScoreSpec(r, maps)}");
        return (scorer, cal, vq);
    }

    /// <summary>The options of <see cref="AnomalyModel"/> (what `score` runs).</summary>
    public AnomalyModelOptions ModelOptions(ParseResult r, ulong seed, bool maps)
        => new() { Scoring = Options(r, seed), Restorer = CreateRestorer(r), Maps = maps, ImageScore = RequestedImageScore(r) };

    /// <summary>What a loaded model scores with (λ, τ and the restoration settings of a VQ-VAE run; the score and threshold of a VAE / GAN run).</summary>
    public static void Describe(AnomalyModel model)
    {
        if (model.Kind == "vqvae")
        {
            Describe(model.Lambda, model.Tau, model.Options.Scoring, model.ImageSize);
            Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"image score: {model.ScoreName}, threshold {model.Threshold:G6}"));
            if (model.ScoreNote is { } note) Console.Error.WriteLine($"note: {note}");
        }
        else Console.Error.WriteLine($"scoring: {model.Kind} run, image score {model.ScoreName}, threshold {model.Threshold:F4} (score_calibration.json)");
    }

    public static void Describe(double lambda, double tau, ScoringOptions o, int imageSize)
        => Console.Error.WriteLine($"scoring: λ = {lambda:F3} nats, τ = {tau:F3} nats, {o.Restorations} restorations, rule {o.Rule}, map vs {o.Reference}, smoothing min-pool {o.MinPoolFor(imageSize)} / avg-pool {o.AvgPoolFor(imageSize)}");
}
