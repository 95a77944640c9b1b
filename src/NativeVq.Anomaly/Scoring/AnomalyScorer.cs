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
    double Milliseconds);

/// <summary>
/// The scoring stage (design.md §1.3) for a trained VQ-VAE + prior: per-code NLL from one teacher-forced pass,
/// the sample score, and — when maps are wanted — restorations of the unlikely codes, decoded and compared
/// with the input (or the reconstruction) into a smoothed pixel map.
/// </summary>
public sealed class AnomalyScorer(VqVae vq, PixelSnail prior, double lambda, double tau, ScoringOptions options, IRestorer restorer)
{
    public double Lambda => lambda;
    public Backend Backend => vq.Backend;
    public double Tau => tau;

    /// <param name="seedByIndex">
    /// True (evaluation): image <c>i</c>'s restorations draw from seed + 7919·i, so images of a set get independent
    /// streams. False (<see cref="AnomalyModel"/>): every image draws from the seed alone, so an image's map does not
    /// depend on where it stands in a batch, a folder or a shard.
    /// </param>
    public IReadOnlyList<ImageScore> Score(IImageDataset data, IReadOnlyList<int> indices, bool maps, Action<int>? progress = null, int batch = 64, bool seedByIndex = true)
    {
        options.Validate();
        var backend = vq.Backend;
        int c = data.Channels, size = data.Size, per = c * size * size;
        if (size != vq.Config.ImageSize || c != vq.Config.ImageChannels)
            throw new UserError($"the data gives {c}x{size}x{size} images but the model expects {vq.Config.ImageChannels}x{vq.Config.ImageSize}x{vq.Config.ImageSize}");
        int lat = vq.Config.LatentSize, hw = lat * lat;
        var results = new List<ImageScore>(indices.Count);
        using var noGrad = Autograd.NoGrad();
        vq.Eval();
        prior.Eval();
        for (int s = 0; s < indices.Count; s += batch)
        {
            int n = Math.Min(batch, indices.Count - s);
            var clock = Stopwatch.StartNew();
            var x = new float[n * per];
            Parallel.For(0, n, i => data.Load(indices[s + i], x.AsSpan(i * per, per)));
            int[] codes; float[] rec, nll;
            using (var scope = new TensorScope())
            {
                var xt = Tensor.FromArray(backend, x, n, c, size, size);
                var o = vq.Forward(xt);
                codes = o.Indices.ToIntArray();
                rec = o.Reconstruction.ToArray();
                nll = prior.NllMap(o.Indices).ToArray();
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
                        requests.Add(new RestoreRequest(codes.AsSpan(i * hw, hw).ToArray(), masks[i], options.Seed + (ulong)(seedByIndex ? indices[s + i] : 0) * 7919UL));
                }
                var all = restorer.RestoreAll(prior, requests, options.Restorations, options.Temperature);
                for (int i = 0, r = 0; i < n; i++)
                    if (masks[i].Contains(true)) restored[i] = all[r++];
            }
            double sharedMs = clock.Elapsed.TotalMilliseconds / n;
            for (int i = 0; i < n; i++)
            {
                var imgClock = Stopwatch.StartNew();
                var input = x.AsSpan(i * per, per).ToArray();
                var recon = rec.AsSpan(i * per, per).ToArray();
                var grid = nll.AsSpan(i * hw, hw).ToArray();
                double err = 0;
                for (int k = 0; k < per; k++) err += (input[k] - recon[k]) * (double)(input[k] - recon[k]);
                float[]? map = null, restoration = null;
                int resampled = 0;
                if (maps)
                {
                    var mask = masks[i];
                    resampled = mask.Count(b => b);
                    // Nothing unlikely: every restoration is the reconstruction itself.
                    var images = resampled == 0 ? [recon] : Decode(restored[i]!, lat, per);
                    restoration = images[0];
                    var reference = options.Reference == MapReference.Input ? input : recon;
                    map = PixelMaps.Smooth(PixelMaps.FromRestorations(input, reference, images, c, size, options.SoftmaxWeights, options.WeightSharpness),
                        size, options.MinPoolFor(size), options.AvgPoolFor(size));
                }
                results.Add(new ImageScore(data.NameOf(indices[s + i]), data.LabelOf(indices[s + i]),
                    LatentScores.SampleScore(grid, lambda), grid.Sum(v => (double)v), err / per, resampled,
                    input, recon, restoration, map, grid, sharedMs + imgClock.Elapsed.TotalMilliseconds));
                progress?.Invoke(results.Count);
            }
        }
        return results;
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
