namespace NativeVq.Models;

/// <summary>
/// Ancestral sampling from the prior in raster order: one full forward pass per position (the naive loop),
/// each drawing code i from softmax(logits_i / T) given the codes already drawn.
/// </summary>
public static class PriorSampler
{
    public static int[] Sample(PixelSnail prior, int count, Rng rng, float temperature = 1f)
    {
        var cfg = prior.Config;
        int h = cfg.Height, w = cfg.Width, k = cfg.Codes, hw = h * w;
        var codes = new int[count * hw];
        using var noGrad = Autograd.NoGrad();
        prior.Eval();
        for (int pos = 0; pos < hw; pos++)
        {
            using var scope = new TensorScope();
            var logits = prior.Logits(Tensor.FromArray(prior.Backend, codes, count, h, w)).ToArray();
            for (int n = 0; n < count; n++)
                codes[n * hw + pos] = Draw(logits, n, pos, k, hw, rng, temperature);
        }
        return codes;
    }

    /// <summary>Draws a code from softmax(logits[n, :, pos] / T) with one uniform from <paramref name="rng"/>.</summary>
    public static int Draw(float[] logits, int n, int pos, int k, int hw, Rng rng, float temperature)
    {
        double max = double.NegativeInfinity;
        for (int c = 0; c < k; c++) max = Math.Max(max, logits[(n * k + c) * hw + pos]);
        Span<double> p = k <= 1024 ? stackalloc double[k] : new double[k];
        double sum = 0;
        for (int c = 0; c < k; c++) sum += p[c] = Math.Exp((logits[(n * k + c) * hw + pos] - max) / temperature);
        double u = rng.NextDouble() * sum;
        for (int c = 0; c < k; c++)
        {
            u -= p[c];
            if (u < 0) return c;
        }
        return k - 1;
    }
}
