using NativeVq.Models;

namespace NativeVq.Anomaly.Scoring;

/// <summary>
/// Draws restorations of a code map: every position marked in <c>resample</c> is redrawn from the prior in raster
/// order, conditioned on the codes before it (already redrawn ones included). The random stream is fixed by
/// (seed, restoration index): restoration s draws one uniform per resampled position from
/// <see cref="Restoration.StreamFor"/>, in raster order — so every implementation draws the same codes.
/// </summary>
public interface IRestorer
{
    /// <returns>[count · H · W] code maps.</returns>
    int[] Restore(PixelSnail prior, ReadOnlySpan<int> codes, ReadOnlySpan<bool> resample, int count, ulong seed, float temperature = 1f);

    /// <summary>Restorations of several images (each as <see cref="Restore"/> draws them); an implementation may batch them.</summary>
    IReadOnlyList<int[]> RestoreAll(PixelSnail prior, IReadOnlyList<RestoreRequest> images, int count, float temperature = 1f) =>
        images.Select(im => Restore(prior, im.Codes, im.Resample, count, im.Seed, temperature)).ToArray();
}

/// <summary>One image to restore: its code map [H·W], the positions to redraw, and its seed.</summary>
public sealed record RestoreRequest(int[] Codes, bool[] Resample, ulong Seed);

public static class Restoration
{
    /// <summary>The random stream of restoration <paramref name="index"/> of an image scored with <paramref name="seed"/>.</summary>
    public static Rng StreamFor(ulong seed, int index) => new(seed * 0x9E3779B97F4A7C15UL + (ulong)index * 0xBF58476D1CE4E5B9UL + 1);
}

/// <summary>
/// The reference loop (what the PyTorch peer times): for each restoration and each resampled position, one
/// batch-1 forward pass of the whole prior. Cost: restorations × resampled codes full passes.
/// </summary>
public sealed class NaiveRestorer : IRestorer
{
    public int[] Restore(PixelSnail prior, ReadOnlySpan<int> codes, ReadOnlySpan<bool> resample, int count, ulong seed, float temperature = 1f)
    {
        var cfg = prior.Config;
        int h = cfg.Height, w = cfg.Width, hw = h * w, k = cfg.Codes;
        if (codes.Length != hw || resample.Length != hw) throw new ArgumentException($"restore: expected {hw} codes and flags for a {h}x{w} grid");
        var result = new int[count * hw];
        using var noGrad = Autograd.NoGrad();
        prior.Eval();
        for (int s = 0; s < count; s++)
        {
            var map = codes.ToArray();
            var rng = Restoration.StreamFor(seed, s);
            for (int p = 0; p < hw; p++)
            {
                if (!resample[p]) continue;
                using var scope = new TensorScope();
                var logits = prior.Logits(Tensor.FromArray(prior.Backend, map, 1, h, w)).ToArray();
                map[p] = PriorSampler.Draw(logits, 0, p, k, hw, rng, temperature);
            }
            map.CopyTo(result, s * hw);
        }
        return result;
    }
}
