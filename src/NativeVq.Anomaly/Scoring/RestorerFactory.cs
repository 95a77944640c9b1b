namespace NativeVq.Anomaly.Scoring;

/// <summary>The restorer to use by default.</summary>
public static class RestorerFactory
{
    /// <summary>The fast restorer (falls back to the naive loop until the incremental one is in).</summary>
    public static IRestorer Fast() => new NaiveRestorer();
}
