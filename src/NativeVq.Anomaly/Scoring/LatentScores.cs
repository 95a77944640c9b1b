namespace NativeVq.Anomaly.Scoring;

/// <summary>The latent-space rules of design.md §1.3: the sample score and which codes to resample.</summary>
internal static class LatentScores
{
    /// <summary>MOOD sample score S = Σ_i NLL_i · [NLL_i &gt; λ] over one image's code grid.</summary>
    public static double SampleScore(ReadOnlySpan<float> nll, double lambda)
    {
        double s = 0;
        foreach (var v in nll) if (v > lambda) s += v;
        return s;
    }

    /// <summary>
    /// Positions (row-major) to resample. Threshold rule: NLL &gt; τ. Neighbour rule: additionally the largest NLL
    /// among the bottom half of the 8-neighbourhood {(i, j+1), (i+1, j−1), (i+1, j), (i+1, j+1)} (those inside the
    /// grid) exceeds τ, which suppresses isolated noisy codes.
    /// </summary>
    public static bool[] ResampleMask(ReadOnlySpan<float> nll, int height, int width, double tau, ResampleRule rule)
    {
        var mask = new bool[height * width];
        for (int i = 0; i < height; i++)
            for (int j = 0; j < width; j++)
            {
                int p = i * width + j;
                if (!(nll[p] > tau)) continue;
                if (rule == ResampleRule.Neighbour)
                {
                    float best = float.NegativeInfinity;
                    if (j + 1 < width) best = Math.Max(best, nll[p + 1]);
                    if (i + 1 < height)
                    {
                        if (j > 0) best = Math.Max(best, nll[p + width - 1]);
                        best = Math.Max(best, nll[p + width]);
                        if (j + 1 < width) best = Math.Max(best, nll[p + width + 1]);
                    }
                    if (!(best > tau)) continue;
                }
                mask[p] = true;
            }
        return mask;
    }
}
