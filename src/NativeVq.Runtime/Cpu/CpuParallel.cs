namespace NativeVq.Cpu;

/// <summary>
/// Parallel loops with fixed chunking. Chunk boundaries depend only on the problem size, never on timing,
/// so any per-chunk reduction combined in chunk order is deterministic.
/// </summary>
internal static class CpuParallel
{
    public static int Threads { get; } = Environment.ProcessorCount;

    /// <summary>Runs body(start, end) over [0, n) in chunks of at least <paramref name="grain"/> items.</summary>
    public static void For(int n, int grain, Action<int, int> body)
    {
        if (n <= 0) return;
        int chunks = Math.Min(Math.Max(1, n / Math.Max(1, grain)), Threads * 4);
        if (chunks <= 1)
        {
            body(0, n);
            return;
        }
        Parallel.For(0, chunks, c =>
        {
            int s = (int)((long)n * c / chunks), e = (int)((long)n * (c + 1) / chunks);
            body(s, e);
        });
    }

    /// <summary>Number of fixed chunks <see cref="ForChunks"/> uses for n items.</summary>
    public static int ChunkCount(int n, int grain) => Math.Max(1, Math.Min(Math.Max(1, n / Math.Max(1, grain)), Threads * 4));

    /// <summary>body(chunk, start, end) for each of <see cref="ChunkCount"/> chunks (for per-chunk partial sums).</summary>
    public static void ForChunks(int n, int grain, Action<int, int, int> body)
    {
        int chunks = ChunkCount(n, grain);
        if (chunks == 1)
        {
            body(0, 0, n);
            return;
        }
        Parallel.For(0, chunks, c =>
        {
            int s = (int)((long)n * c / chunks), e = (int)((long)n * (c + 1) / chunks);
            body(c, s, e);
        });
    }
}
