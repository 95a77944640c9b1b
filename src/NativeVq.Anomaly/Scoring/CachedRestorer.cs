using System.Collections.Concurrent;
using NativeVq.Cpu;
using NativeVq.Models;

namespace NativeVq.Anomaly.Scoring;

/// <summary>
/// The fastest exact <see cref="IRestorer"/>: draws bit-identical code maps to <see cref="NaiveRestorer"/>, computing
/// every layer of the prior once per (distinct restoration history, position) with the model's own per-position
/// inference (<see cref="PixelSnailPositions"/>); this class only schedules positions and draws.
/// <para>
/// Scheduling. Two restorations of an image whose code maps agree on positions &lt; q have the same activations
/// at q (every activation at q depends only on the codes before q), so they need one evaluation. The lanes of an
/// image therefore form classes of equal history: all start as one class (nothing differs before the first
/// resampled position), only a class's representative (its lowest lane) is advanced, every member draws from the
/// representative's logits with its own random stream, and members that draw a different code split off into
/// new classes (the representative's caches are copied to the new one's, <see cref="PixelSnailPositions.CopyLane"/>).
/// Classes never merge again. Nothing after an image's last resampled position is computed. With a confident prior
/// (restorations that agree) this evaluates far fewer lane-positions than S per position; with draws that always
/// differ it is the former schedule (one shared prefix, then S lanes). The prior's global causal attention makes
/// position q depend on every code before it, so once two histories differ nothing after can be shared.
/// Lanes of several images (<see cref="RestoreAll"/>) advance together, so each layer's per-position work is one
/// [lanes, K]·[K, O] product. Lanes are cut into one chunk per core (each chunk an independent
/// <see cref="PixelSnailPositions"/>, no synchronisation between cores), chunks bounded in cache memory; the
/// chunks' caches are kept for the next call (no allocation per call once warm).
/// Priors on other backends fall back to <see cref="IncrementalRestorer"/>.
/// </para>
/// </summary>
public sealed class CachedRestorer : IRestorer
{
    /// <summary>Cache memory one chunk may hold (bounds eval's memory however many images are batched).</summary>
    private const long ChunkCacheBytes = 96L << 20;

    private readonly ConcurrentBag<PixelSnailPositions> _spare = new();
    private long _evaluated;

    /// <summary>Chunks run at once (default: every core).</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Lane-positions evaluated by this instance so far (the work done; divide by S·H·W per image for the share of S full passes).</summary>
    public long EvaluatedLanePositions => Interlocked.Read(ref _evaluated);

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
        var chunks = new List<(List<(int Image, int Restoration)> Lanes, PixelSnailPositions Net)>();
        for (int i = 0; i < lanes.Count; i += size)
        {
            var chunk = lanes.GetRange(i, Math.Min(size, lanes.Count - i));
            chunks.Add((chunk, Rent(prior, chunk.Count, refresh: i == 0)));
        }
        Parallel.ForEach(chunks, new ParallelOptions { MaxDegreeOfParallelism = threads }, c =>
        {
            long done = RunChunk(c.Net, images, c.Lanes, results, temperature);
            Interlocked.Add(ref _evaluated, done);
        });
        foreach (var c in chunks) if (_spare.Count < threads) _spare.Add(c.Net);
        return results;
    }

    /// <summary>
    /// A kept <see cref="PixelSnailPositions"/> of this prior with enough lanes (not more than twice as many: caches
    /// are memory), else a new one; the first of a call makes the per-position weights current.
    /// </summary>
    private PixelSnailPositions Rent(PixelSnail prior, int lanes, bool refresh)
    {
        while (_spare.TryTake(out var net))
            if (net.Model == prior && net.Lanes >= lanes && net.Lanes <= 2 * lanes)
            {
                if (refresh) net.Refresh();
                return net;
            }
        return new PixelSnailPositions(prior, lanes);
    }

    /// <summary>
    /// Lane-positions the former schedule evaluated for one image (the shared prefix once, then every restoration
    /// from the first to the last resampled position): an upper bound of what this scheduler evaluates.
    /// </summary>
    public static long EvaluatedPositions(ReadOnlySpan<bool> resample, int count)
    {
        int first = resample.IndexOf(true), last = resample.LastIndexOf(true);
        return first < 0 || count == 0 ? 0 : first + 1 + (long)count * (last - first);
    }

    /// <summary>Walks the chunk's lanes over their positions (see the class note); returns the lane-positions evaluated.</summary>
    private static long RunChunk(PixelSnailPositions net, IReadOnlyList<RestoreRequest> images, List<(int Image, int Restoration)> chunk,
        int[][] results, float temperature)
    {
        var cfg = net.Model.Config;
        int hw = cfg.Height * cfg.Width, k = cfg.Codes, n = chunk.Count;
        var rngs = new Rng[n];
        var mask = new bool[n][];
        var last = new int[n];
        // rep[l]: the lane whose evaluation lane l shares (rep[l] == l: l is evaluated); splitAt/splitFrom: when and
        // from which representative a lane became one, so members drawing the same new code join the same class.
        var rep = new int[n];
        var splitAt = new int[n];
        var splitFrom = new int[n];
        int end = 0;
        for (int l = 0; l < n; l++)
        {
            var (g, s) = chunk[l];
            images[g].Codes.CopyTo(net.Codes, l * hw);
            rngs[l] = Restoration.StreamFor(images[g].Seed, s);
            mask[l] = images[g].Resample;
            last[l] = Array.LastIndexOf(mask[l], true);
            end = Math.Max(end, last[l]);
            rep[l] = l > 0 && chunk[l - 1].Image == g ? rep[l - 1] : l;
            splitAt[l] = -1;
        }
        var active = new int[n];
        var rowOf = new int[n];
        var logits = new float[n * k];
        var codes = net.Codes;
        long evaluated = 0;
        for (int q = 0; q <= end; q++)
        {
            int m = 0;
            bool draw = false;
            for (int l = 0; l < n; l++)
            {
                if (q > last[l]) continue;
                draw |= mask[l][q];
                if (rep[l] != l) continue;
                rowOf[l] = m;
                active[m++] = l;
            }
            if (m == 0) continue;
            net.Advance(q, active.AsSpan(0, m), logits: draw);
            evaluated += m;
            if (!draw) continue;
            net.Logits(logits);
            for (int l = 0; l < n; l++)
                if (q <= last[l] && mask[l][q])
                    codes[l * hw + q] = PriorSampler.Draw(logits, rowOf[rep[l]], 0, k, 1, rngs[l], temperature);
            for (int l = 0; l < n; l++)
            {
                int a = rep[l];
                if (a == l || q > last[l] || !mask[l][q] || codes[l * hw + q] == codes[a * hw + q]) continue;
                int b = a + 1;
                while (b < l && !(splitAt[b] == q && splitFrom[b] == a && codes[b * hw + q] == codes[l * hw + q])) b++;
                if (b == l)
                {
                    net.CopyLane(a, l, q + 1);
                    splitAt[l] = q;
                    splitFrom[l] = a;
                }
                rep[l] = b;
            }
        }
        for (int l = 0; l < n; l++)
        {
            var (g, s) = chunk[l];
            codes.AsSpan(l * hw, hw).CopyTo(results[g].AsSpan(s * hw, hw));
        }
        return evaluated;
    }
}
