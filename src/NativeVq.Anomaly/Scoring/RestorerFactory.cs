namespace NativeVq.Anomaly.Scoring;

/// <summary>The restorer to use by default.</summary>
public static class RestorerFactory
{
    /// <summary>
    /// The fastest exact restorer: draws exactly what <see cref="NaiveRestorer"/> draws, computing each layer once
    /// per (restoration, position) — <see cref="CachedRestorer"/> (cpu priors; others use <see cref="IncrementalRestorer"/>).
    /// </summary>
    public static IRestorer Fast() => new CachedRestorer();
}
