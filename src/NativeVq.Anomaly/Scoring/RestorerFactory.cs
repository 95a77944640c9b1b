namespace NativeVq.Anomaly.Scoring;

/// <summary>The restorer to use by default.</summary>
public static class RestorerFactory
{
    /// <summary>The fast restorer: draws exactly what <see cref="NaiveRestorer"/> draws, with far fewer prior passes.</summary>
    public static IRestorer Fast() => new IncrementalRestorer();
}
