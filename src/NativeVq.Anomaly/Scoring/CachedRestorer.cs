using NativeVq.Cpu;
using NativeVq.Models;

namespace NativeVq.Anomaly.Scoring;

/// <summary>
/// The fastest exact <see cref="IRestorer"/>: draws bit-identical code maps to <see cref="NaiveRestorer"/>, computing
/// every layer of the prior once per (restoration, position) with the model's own per-position inference
/// (<see cref="PixelSnailPositions"/>); this class only schedules positions and draws.
/// <para>
/// Scheduling. All restorations of an image see its input map before the first resampled position, so one lane
/// (the image's leader) walks positions 0..first and its caches are copied to the other lanes; from there the
/// image's S lanes advance together up to its last resampled position (nothing after it is computed). Lanes of
/// several images (<see cref="RestoreAll"/>) advance together too, so each layer's per-position work is one
/// [lanes, K]·[K, O] product. Lanes are cut into one chunk per core (each chunk an independent
/// <see cref="PixelSnailPositions"/>, no synchronisation between cores), chunks bounded in cache memory.
/// Priors on other backends fall back to <see cref="IncrementalRestorer"/>.
/// </para>
/// </summary>
public sealed class CachedRestorer : IRestorer
{
    /// <summary>Cache memory one chunk may hold (bounds eval's memory however many images are batched).</summary>
    private const long ChunkCacheBytes = 96L << 20;

    /// <summary>Chunks run at once (default: every core).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    public int[] Restore(PixelSnail prior, ReadOnlySpan<int> codes, ReadOnlySpan<bool> resample, int count, ulong seed, float temperature = 1f) =>
        RestoreAll(prior, [new RestoreRequest(codes.ToArray(), resample.ToArray(), seed)], count, temperature)[0];

    public IReadOnlyList<int[]> RestoreAll(PixelSnail prior, IReadOnlyList<RestoreRequest> images, int count, float temperature = 1f)
    {
        if (prior.Backend is not CpuBackend)
            return images.Select(im => new IncrementalRestorer().Restore(prior, im.Codes, im.Resample, count, im.Seed, temperature)).ToArray();
        var cfg = prior.Config;
        int hw = cfg.Height * cfg.Width;
        var results = new int[images.Count][];
        var lanes = new List<(int Image, int Restoration)>();
        for (int g = 0; g < images.Count; g++)
        {
            var im = images[g];
            if (im.Codes.Length != hw || im.Resample.Length != hw)
                throw new ArgumentException($"restore: expected {hw} codes and flags for a {cfg.Height}x{cfg.Width} grid");
            results[g] = new int[count * hw];
            for (int s = 0; s < count; s++) im.Codes.CopyTo(results[g], s * hw);
            if (Array.IndexOf(im.Resample, true) < 0) continue;
            for (int s = 0; s < count; s++) lanes.Add((g, s));
        }
        if (lanes.Count == 0) return results;
        int threads = Math.Max(1, Threads);
        int byMemory = (int)Math.Max(1, ChunkCacheBytes / PixelSnailPositions.CacheBytesPerLane(cfg));
        int size = Math.Clamp((lanes.Count + threads - 1) / threads, 1, byMemory);
        var chunks = new List<List<(int Image, int Restoration)>>();
        for (int i = 0; i < lanes.Count; i += size) chunks.Add(lanes.GetRange(i, Math.Min(size, lanes.Count - i)));
        Parallel.ForEach(chunks, new ParallelOptions { MaxDegreeOfParallelism = threads },
            chunk => RunChunk(prior, images, chunk, results, temperature));
        return results;
    }

    /// <summary>
    /// Lane-positions the scheduler evaluates for one image: the shared prefix once, then every restoration from
    /// the first to the last resampled position (divide by count·H·W for the share of a full pass per restoration).
    /// </summary>
    public static long EvaluatedPositions(ReadOnlySpan<bool> resample, int count)
    {
        int first = resample.IndexOf(true), last = resample.LastIndexOf(true);
        return first < 0 || count == 0 ? 0 : first + 1 + (long)count * (last - first);
    }

    private static void RunChunk(PixelSnail prior, IReadOnlyList<RestoreRequest> images, List<(int Image, int Restoration)> chunk,
        int[][] results, float temperature)
    {
        var cfg = prior.Config;
        int hw = cfg.Height * cfg.Width, k = cfg.Codes, n = chunk.Count;
        var net = new PixelSnailPositions(prior, n);
        var rngs = new Rng[n];
        var groups = new List<(int Image, int Leader, int End, int First, int Last)>();
        for (int l = 0; l < n; l++)
        {
            var (g, s) = chunk[l];
            images[g].Codes.CopyTo(net.Codes, l * hw);
            rngs[l] = Restoration.StreamFor(images[g].Seed, s);
            if (l == 0 || chunk[l - 1].Image != g)
            {
                var mask = images[g].Resample;
                groups.Add((g, l, l, Array.IndexOf(mask, true), Array.LastIndexOf(mask, true)));
            }
            groups[^1] = groups[^1] with { End = l + 1 };
        }
        int end = groups.Max(gr => gr.Last);
        var active = new int[n];
        var logits = new float[n * k];
        var groupOf = new int[n];
        for (int i = 0; i < groups.Count; i++)
            for (int l = groups[i].Leader; l < groups[i].End; l++) groupOf[l] = i;
        for (int q = 0; q <= end; q++)
        {
            int m = 0;
            bool draw = false;
            foreach (var gr in groups)
            {
                if (q > gr.Last) continue;
                if (q <= gr.First) active[m++] = gr.Leader;
                else
                {
                    if (q == gr.First + 1)
                        for (int l = gr.Leader + 1; l < gr.End; l++) net.CopyLane(gr.Leader, l, q);
                    for (int l = gr.Leader; l < gr.End; l++) active[m++] = l;
                }
                draw |= images[gr.Image].Resample[q];
            }
            if (m == 0) continue;
            net.Advance(q, active.AsSpan(0, m));
            if (!draw) continue;
            net.Logits(logits);
            for (int r = 0; r < m; r++)
            {
                int lane = active[r];
                var gr = groups[groupOf[lane]];
                if (!images[gr.Image].Resample[q]) continue;
                // At the first resampled position only the leader was evaluated: every lane draws from its logits.
                int from = q == gr.First ? gr.Leader : lane, to = q == gr.First ? gr.End : lane + 1;
                for (int l = from; l < to; l++)
                    net.Codes[l * hw + q] = PriorSampler.Draw(logits, r, 0, k, 1, rngs[l], temperature);
            }
        }
        for (int l = 0; l < n; l++)
        {
            var (g, s) = chunk[l];
            net.Codes.AsSpan(l * hw, hw).CopyTo(results[g].AsSpan(s * hw, hw));
        }
    }
}
