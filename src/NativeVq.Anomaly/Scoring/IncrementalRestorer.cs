using NativeVq.Models;

namespace NativeVq.Anomaly.Scoring;

/// <summary>
/// A fast <see cref="IRestorer"/> that draws exactly the codes <see cref="NaiveRestorer"/> draws (bit-identical
/// code maps for the same seed and temperature), built on two exact facts of this runtime:
/// <list type="number">
/// <item><b>Bit-exact causality.</b> The logits at raster position q do not change at all (bitwise) when codes at
/// positions ≥ q change. So the logits of a code state stay valid for every later position until a code before
/// it changes: a restoration needs a new prior pass only after a draw that actually changed its code, and a
/// draw that equals the old code costs nothing. The first pass is the same for every restoration (they all
/// start from the input map) and is run once.</item>
/// <item><b>Batch invariance.</b> A batch-N pass gives each image bitwise the same logits as a batch-1 pass (the
/// cpu conv runs one im2col GEMM per image, whose per-element summation order is fixed; the other kernels are
/// per element, per row or per (image, channel) plane). So all restorations that need a new pass at the same
/// position share one batched pass — they resample the same positions.</item>
/// </list>
/// Cost: at most one batched pass per resampled position (the passes after unchanged draws are skipped), i.e.
/// (resampled codes) passes of batch ≤ S instead of S × (resampled codes) batch-1 passes. Every pass is still a
/// full H·W pass; see docs/models.md "Fast restoration" for what this does and does not save.
/// </summary>
public sealed class IncrementalRestorer : IRestorer
{
    public int[] Restore(PixelSnail prior, ReadOnlySpan<int> codes, ReadOnlySpan<bool> resample, int count, ulong seed, float temperature = 1f)
    {
        var cfg = prior.Config;
        int h = cfg.Height, w = cfg.Width, hw = h * w, k = cfg.Codes;
        if (codes.Length != hw || resample.Length != hw) throw new ArgumentException($"restore: expected {hw} codes and flags for a {h}x{w} grid");
        var result = new int[count * hw];
        for (int s = 0; s < count; s++) codes.CopyTo(result.AsSpan(s * hw, hw));
        if (count == 0) return result;
        int first = resample.IndexOf(true);
        if (first < 0) return result;

        using var noGrad = Autograd.NoGrad();
        prior.Eval();
        var rngs = new Rng[count];
        for (int s = 0; s < count; s++) rngs[s] = Restoration.StreamFor(seed, s);

        // logits[s] holds [K, H, W] logits of restoration s for a state that agrees with its current map on every
        // position before the next resampled one. All restorations start from the same map: one batch-1 pass.
        var logits = new float[count][];
        var shared = PassOf(prior, result.AsSpan(0, hw), 1, h, w);
        for (int s = 0; s < count; s++) logits[s] = shared;
        var stale = new bool[count];   // a code before the next position changed since logits[s] was computed
        var batchIdx = new int[count];
        var batchCodes = new int[count * hw];

        for (int p = first; p < hw; p++)
        {
            if (!resample[p]) continue;
            int nb = 0;
            for (int s = 0; s < count; s++)
                if (stale[s])
                {
                    result.AsSpan(s * hw, hw).CopyTo(batchCodes.AsSpan(nb * hw, hw));
                    batchIdx[nb++] = s;
                }
            if (nb > 0)
            {
                var fresh = PassOf(prior, batchCodes.AsSpan(0, nb * hw), nb, h, w);
                int per = k * hw;
                for (int i = 0; i < nb; i++)
                {
                    int s = batchIdx[i];
                    logits[s] = nb == 1 ? fresh : fresh.AsSpan(i * per, per).ToArray();
                    stale[s] = false;
                }
            }
            for (int s = 0; s < count; s++)
            {
                int drawn = PriorSampler.Draw(logits[s], 0, p, k, hw, rngs[s], temperature);
                ref int slot = ref result[s * hw + p];
                if (drawn != slot) { slot = drawn; stale[s] = true; }
            }
        }
        return result;
    }

    /// <summary>One no-grad forward pass of <paramref name="n"/> maps; the logits [n, K, H, W] as a managed array.</summary>
    private static float[] PassOf(PixelSnail prior, ReadOnlySpan<int> maps, int n, int h, int w)
    {
        using var scope = new TensorScope();
        return prior.Logits(Tensor.FromArray(prior.Backend, maps, n, h, w)).ToArray();
    }
}
