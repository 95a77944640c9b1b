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
/// Every constant of the scoring stage; the defaults are the papers' values. λ and τ come from the run's
/// calibration.json (percentiles of held-out normal NLLs) unless given as absolute values here.
/// </summary>
public sealed record ScoringOptions
{
    /// <summary>Absolute sample-score threshold λ in nats (MOOD: 7); null = calibrated percentile.</summary>
    public double? Lambda { get; init; }
    /// <summary>Absolute resampling threshold τ in nats (MOOD: 5); null = calibrated percentile.</summary>
    public double? Tau { get; init; }
    public ResampleRule Rule { get; init; } = ResampleRule.Threshold;
    public MapReference Reference { get; init; } = MapReference.Input;
    /// <summary>Restorations per image (MOOD: 15).</summary>
    public int Restorations { get; init; } = 15;
    /// <summary>Weight restorations by softmax(−c · mean L1(x, r_j)) (MOOD code); false = plain mean.</summary>
    public bool SoftmaxWeights { get; init; } = true;
    /// <summary>The c of the softmax weighting (MOOD code: 3).</summary>
    public float WeightSharpness { get; init; } = 3f;
    /// <summary>Min-pool window applied to the map first (MOOD code: 3; 1 = off).</summary>
    public int MinPool { get; init; } = 3;
    /// <summary>Average-pool window applied after the min-pool (MOOD code: 7; 1 = off).</summary>
    public int AvgPool { get; init; } = 7;
    /// <summary>Softmax temperature of the resampling draws.</summary>
    public float Temperature { get; init; } = 1f;
    public ulong Seed { get; init; } = 1;

    public void Validate()
    {
        if (Restorations < 1) throw new UserError($"--restorations must be at least 1, got {Restorations}");
        if (MinPool < 1 || MinPool % 2 == 0) throw new UserError($"--min-pool must be an odd size ≥ 1, got {MinPool}");
        if (AvgPool < 1 || AvgPool % 2 == 0) throw new UserError($"--avg-pool must be an odd size ≥ 1, got {AvgPool}");
        if (Temperature <= 0) throw new UserError($"--temperature must be positive, got {Temperature}");
        if (WeightSharpness < 0) throw new UserError($"--weight-c must be ≥ 0, got {WeightSharpness}");
    }
}
