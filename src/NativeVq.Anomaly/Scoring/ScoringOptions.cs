namespace NativeVq.Anomaly.Scoring;

/// <summary>Which codes a restoration resamples (design.md §1.3).</summary>
public enum ResampleRule
{
    /// <summary>MOOD: every code with NLL &gt; τ.</summary>
    Threshold,
    /// <summary>Latent-space resampling paper: NLL &gt; τ and the largest NLL of the bottom half of the 8-neighbourhood also &gt; τ.</summary>
    Neighbour,
}

/// <summary>What the restoration is compared with to make the pixel map.</summary>
public enum MapReference
{
    /// <summary>MOOD: |input − restoration|.</summary>
    Input,
    /// <summary>Latent-space resampling paper: |VQ-VAE reconstruction − restoration|.</summary>
    Reconstruction,
}

/// <summary>
/// Every constant of the scoring stage; the defaults are the best measured settings (docs/results.md, issue 13),
/// the papers' values where the ablation found nothing better. λ and τ come from the run's
/// calibration.json (percentiles of held-out normal NLLs) unless given as absolute values here.
/// </summary>
public sealed record ScoringOptions
{
    /// <summary>Absolute sample-score threshold λ in nats (MOOD: 7); null = calibrated percentile.</summary>
    public double? Lambda { get; init; }
    /// <summary>Absolute resampling threshold τ in nats (MOOD: 5); null = calibrated percentile.</summary>
    public double? Tau { get; init; }
    /// <summary>Neighbour by default (issue 13 ablation: drops isolated noisy codes; the seeds' MOOD used Threshold).</summary>
    public ResampleRule Rule { get; init; } = ResampleRule.Neighbour;
    public MapReference Reference { get; init; } = MapReference.Input;
    /// <summary>Restorations per image (MOOD: 15).</summary>
    public int Restorations { get; init; } = 15;
    /// <summary>Weight restorations by softmax(−c · mean L1(x, r_j)) (MOOD code); false = plain mean.</summary>
    public bool SoftmaxWeights { get; init; } = true;
    /// <summary>The c of the softmax weighting (MOOD code: 3).</summary>
    public float WeightSharpness { get; init; } = 3f;
    /// <summary>Min-pool window applied to the map first (1 = off); null = <see cref="ScaledWindow"/> of MOOD's 3.</summary>
    public int? MinPool { get; init; }
    /// <summary>Average-pool window applied after the min-pool (1 = off); null = <see cref="ScaledWindow"/> of MOOD's 7.</summary>
    public int? AvgPool { get; init; }
    /// <summary>Softmax temperature of the resampling draws.</summary>
    public float Temperature { get; init; } = 1f;
    public ulong Seed { get; init; } = 1;

    public void Validate()
    {
        if (Restorations < 1) throw new UserError($"--restorations must be at least 1, got {Restorations}");
        if (MinPool is int mp && (mp < 1 || mp % 2 == 0)) throw new UserError($"--min-pool must be an odd size ≥ 1, got {mp}");
        if (AvgPool is int ap && (ap < 1 || ap % 2 == 0)) throw new UserError($"--avg-pool must be an odd size ≥ 1, got {ap}");
        if (Temperature <= 0) throw new UserError($"--temperature must be positive, got {Temperature}");
        if (WeightSharpness < 0) throw new UserError($"--weight-c must be ≥ 0, got {WeightSharpness}");
    }

    /// <summary>The MOOD code's smoothing windows (min-pool 3, average-pool 7) were made for 128-px images.</summary>
    public const int MoodMinPool = 3, MoodAvgPool = 7, MoodImageSize = 128;

    /// <summary>
    /// A MOOD window scaled to the image size: the nearest odd size to window·size/128, at least 1. At 32 px both
    /// windows become 1 (3 for the average pool from 64 px): a 7-px average erases a 1–2 px scratch at 32–64 px.
    /// </summary>
    public static int ScaledWindow(int moodWindow, int size)
    {
        double v = moodWindow * (double)size / MoodImageSize;
        return Math.Max(1, 2 * (int)Math.Round((v - 1) / 2, MidpointRounding.AwayFromZero) + 1);
    }

    public int MinPoolFor(int size) => MinPool ?? ScaledWindow(MoodMinPool, size);
    public int AvgPoolFor(int size) => AvgPool ?? ScaledWindow(MoodAvgPool, size);
}
