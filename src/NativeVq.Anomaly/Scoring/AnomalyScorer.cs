using System.Diagnostics;
using NativeVq.Data;
using NativeVq.Models;

namespace NativeVq.Anomaly.Scoring;

/// <summary>Everything computed for one image.</summary>
/// <param name="SampleScore">MOOD sample score Σ NLL_i·[NLL_i &gt; λ] (nats).</param>
/// <param name="TotalNll">Σ NLL over the code grid (nats).</param>
/// <param name="ReconError">Mean squared reconstruction error (the VQ-VAE-only baseline score).</param>
/// <param name="Map">Smoothed pixel anomaly map [size·size], or null when maps were not asked for.</param>
public sealed record ImageScore(
    string Name,
    int Label,
    double SampleScore,
    double TotalNll,
    double ReconError,
    int ResampledCodes,
    float[] Input,
    float[] Reconstruction,
    float[]? Restoration,
    float[]? Map,
    float[] NllGrid,
    double Milliseconds)
{
    /// <summary>Distance of the encoder output to the nearest training image's (<see cref="FeatureBank"/>); null without a bank.</summary>
    public double? Knn { get; init; }
}

/// <summary>
/// The scoring stage (design.md §1.3) for a trained VQ-VAE + prior: per-code NLL from one teacher-forced pass,
/// the sample score, and — when maps are wanted — restorations of the unlikely codes, decoded and compared
/// with the input (or the reconstruction) into a smoothed pixel map.
/// </summary>
public sealed class AnomalyScorer(VqVae vq, PixelSnail prior, double lambda, double tau, ScoringOptions options, IRestorer restorer)
{
    public double Lambda => lambda;
    public Backend Backend => vq.Backend;
    public VqVae VqVae => vq;
    /// <summary>The training images' encoder outputs; when set, every <see cref="ImageScore"/> gets its <see cref="ImageScore.Knn"/> distance.</summary>
    public FeatureBank? Bank { get; set; }
    public double Tau => tau;
    public ScoringOptions Options => options;

    /// <summary>
    /// Scores the images <paramref name="indices"/> of <paramref name="data"/> in order. <paramref name="scored"/>
    /// sees each result as soon as it exists (to write it out incrementally). An image that cannot be read (a
    /// <see cref="UserError"/> from the dataset) stops the run with that error, unless <paramref name="failed"/> is
    /// given: then it receives (index, error) in the image's place and the other images are scored.
    /// </summary>
    /// <param name="seedByIndex">
    /// True (evaluation): image <c>i</c>'s restorations draw from seed + 7919·i, so images of a set get independent
    /// streams. False (<see cref="AnomalyModel"/>): every image draws from the seed alone, so an image's map does not
    /// depend on where it stands in a batch, a folder or a shard.
    /// </param>
    public IReadOnlyList<ImageScore> Score(IImageDataset data, IReadOnlyList<int> indices, bool maps, Action<int>? progress = null, int batch = 64, bool seedByIndex = true,
        Action<ImageScore>? scored = null, Action<int, UserError>? failed = null)
    {
        options.Validate();
        var backend = vq.Backend;
        int c = data.Channels, size = data.Size, per = c * size * size;
        if (size != vq.Config.ImageSize || c != vq.Config.ImageChannels)
            throw new UserError($"the data gives {c}x{size}x{size} images but the model expects {vq.Config.ImageChannels}x{vq.Config.ImageSize}x{vq.Config.ImageSize}");
        int lat = vq.Config.LatentSize, hw = lat * lat;
        var results = new List<ImageScore>(indices.Count);
        int handled = 0;
        using var noGrad = Autograd.NoGrad();
        vq.Eval();
        prior.Eval();
        for (int s = 0; s < indices.Count; s += batch)
        {
            int total = Math.Min(batch, indices.Count - s);
            var clock = Stopwatch.StartNew();
            var loaded = LoadBatch(data, indices, s, total, per, failed is null);
            int n = loaded.Good.Count;
            var x = loaded.Pixels;
            int[] codes = []; float[] rec = [], nll = [];
            double[] knn = [];
            if (n > 0)
            {
                using var scope = new TensorScope();
                var xt = Tensor.FromArray(backend, x.AsSpan(0, n * per), n, c, size, size);
                var o = vq.Forward(xt);
                codes = o.Indices.ToIntArray();
                rec = o.Reconstruction.ToArray();
                nll = prior.NllMap(o.Indices).ToArray();
                if (Bank is { } bank)
                {
                    var z = FeatureBank.Rows(o.ZE.ToArray(), n, lat);
                    knn = new double[n];
                    Parallel.For(0, n, i => knn[i] = bank.Nearest(z[i]));
                }
            }
            // Restorations of every image of the batch in one call: their lanes share each layer's per-position product.
            var masks = new bool[n][];
            var restored = new int[]?[n];
            if (maps)
            {
                var requests = new List<RestoreRequest>();
                for (int i = 0; i < n; i++)
                {
                    masks[i] = LatentScores.ResampleMask(nll.AsSpan(i * hw, hw).ToArray(), lat, lat, tau, options.Rule);
                    if (masks[i].Contains(true))
                        requests.Add(new RestoreRequest(codes.AsSpan(i * hw, hw).ToArray(), masks[i], options.Seed + (ulong)(seedByIndex ? indices[s + loaded.Good[i]] : 0) * 7919UL));
                }
                var all = restorer.RestoreAll(prior, requests, options.Restorations, options.Temperature);
                for (int i = 0, r = 0; i < n; i++)
                    if (masks[i].Contains(true)) restored[i] = all[r++];
            }
            double sharedMs = clock.Elapsed.TotalMilliseconds / Math.Max(1, n);
            int g = 0;   // position among the images of this batch that loaded
            for (int k = 0; k < total; k++)
            {
                int index = indices[s + k];
                if (loaded.Errors[k] is { } error)
                {
                    failed!(index, error);
                    progress?.Invoke(++handled);
                    continue;
                }
                var imgClock = Stopwatch.StartNew();
                var input = x.AsSpan(g * per, per).ToArray();
                var recon = rec.AsSpan(g * per, per).ToArray();
                var grid = nll.AsSpan(g * hw, hw).ToArray();
                double err = 0;
                for (int q = 0; q < per; q++) err += (input[q] - recon[q]) * (double)(input[q] - recon[q]);
                float[]? map = null, restoration = null;
                int resampled = 0;
                if (maps)
                {
                    var mask = masks[g];
                    resampled = mask.Count(b => b);
                    // Nothing unlikely: every restoration is the reconstruction itself.
                    var images = resampled == 0 ? [recon] : Decode(restored[g]!, lat, per);
                    restoration = images[0];
                    var reference = options.Reference == MapReference.Input ? input : recon;
                    map = PixelMaps.Smooth(PixelMaps.FromRestorations(input, reference, images, c, size, options.SoftmaxWeights, options.WeightSharpness),
                        size, options.MinPoolFor(size), options.AvgPoolFor(size));
                }
                var result = new ImageScore(data.NameOf(index), data.LabelOf(index),
                    LatentScores.SampleScore(grid, lambda), grid.Sum(v => (double)v), err / per, resampled,
                    input, recon, restoration, map, grid, sharedMs + imgClock.Elapsed.TotalMilliseconds) { Knn = knn.Length > 0 ? knn[g] : null };
                results.Add(result);
                scored?.Invoke(result);
                progress?.Invoke(++handled);
                g++;
            }
        }
        return results;
    }

    /// <summary>
    /// Decodes images in parallel, each failure caught on its own worker: with <paramref name="throwFirst"/> the
    /// first failing image (in order) rethrows its own error, never an AggregateException. The pixels of the images
    /// that loaded are packed at the front of the buffer, in order.
    /// </summary>
    private static (float[] Pixels, List<int> Good, UserError?[] Errors) LoadBatch(IImageDataset data, IReadOnlyList<int> indices, int start, int count, int per, bool throwFirst)
    {
        var x = new float[count * per];
        var errors = new UserError?[count];
        Parallel.For(0, count, k =>
        {
            try { data.Load(indices[start + k], x.AsSpan(k * per, per)); }
            catch (UserError e) { errors[k] = e; }
        });
        if (throwFirst && errors.FirstOrDefault(e => e is not null) is { } first) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
        var good = Enumerable.Range(0, count).Where(k => errors[k] is null).ToList();
        for (int j = 0; j < good.Count; j++)
            if (good[j] != j) x.AsSpan(good[j] * per, per).CopyTo(x.AsSpan(j * per, per));
        return (x, good, errors);
    }

    /// <summary>The S restored code maps of one image [S·lat·lat], decoded: [S][C·size·size].</summary>
    private List<float[]> Decode(int[] maps, int lat, int per)
    {
        int count = maps.Length / (lat * lat);
        using var scope = new TensorScope();
        var decoded = vq.DecodeCodes(Tensor.FromArray(vq.Backend, maps, count, lat, lat)).ToArray();
        var list = new List<float[]>(count);
        for (int j = 0; j < count; j++)
        {
            var img = decoded.AsSpan(j * per, per).ToArray();
            for (int k = 0; k < img.Length; k++) img[k] = Math.Clamp(img[k], -1f, 1f);
            list.Add(img);
        }
        return list;
    }
}
