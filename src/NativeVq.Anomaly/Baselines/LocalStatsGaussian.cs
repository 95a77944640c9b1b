using NativeVq.Data;

namespace NativeVq.Anomaly.Baselines;

/// <summary>
/// No-network baseline: a Gaussian over the six <see cref="LocalStats"/> features at every pixel position, fitted on
/// normal training images; the map is the Mahalanobis distance of each pixel's features, the image score its max.
/// Each position's mean and covariance are shrunk towards the pooled ones (weight n / (n + <see cref="Shrinkage"/>)),
/// so aligned data (MNIST) gets position-specific statistics and few images (textures) still give a stable estimate.
/// </summary>
public sealed class LocalStatsGaussian : IBaseline
{
    /// <summary>Pseudo-count of the pooled statistics in each position's estimate.</summary>
    public const double Shrinkage = 20;
    private const int F = LocalStats.Features;
    private readonly int _size, _channels, _window;
    private readonly double[] _mean;     // [hw, F]
    private readonly double[] _inverse;  // [hw, F, F]

    public string Name => "local-statistics Gaussian";

    private LocalStatsGaussian(int size, int channels, int window, double[] mean, double[] inverse)
    {
        _size = size; _channels = channels; _window = window; _mean = mean; _inverse = inverse;
    }

    public static LocalStatsGaussian Fit(IImageDataset data, IReadOnlyList<int> indices)
    {
        if (indices.Count == 0) throw new ArgumentException("the Gaussian baseline needs training images");
        int size = data.Size, c = data.Channels, hw = size * size, window = LocalStats.WindowFor(size);
        var sum = new double[hw * F];
        var outer = new double[hw * F * F];
        var img = new float[c * hw];
        foreach (var i in indices)
        {
            data.Load(i, img);
            var f = LocalStats.Compute(img, c, size, window);
            for (int p = 0; p < hw; p++)
                for (int a = 0; a < F; a++)
                {
                    double va = f[a * hw + p];
                    sum[p * F + a] += va;
                    for (int b = 0; b < F; b++) outer[(p * F + a) * F + b] += va * f[b * hw + p];
                }
        }
        int n = indices.Count;
        // Pooled statistics over all positions.
        var gMean = new double[F]; var gOuter = new double[F * F];
        for (int p = 0; p < hw; p++)
        {
            for (int a = 0; a < F; a++) gMean[a] += sum[p * F + a] / ((double)n * hw);
            for (int k = 0; k < F * F; k++) gOuter[k] += outer[p * F * F + k] / ((double)n * hw);
        }
        double w = n / (n + Shrinkage);
        var mean = new double[hw * F];
        var inverse = new double[hw * F * F];
        var cov = new double[F * F];
        for (int p = 0; p < hw; p++)
        {
            for (int a = 0; a < F; a++) mean[p * F + a] = w * sum[p * F + a] / n + (1 - w) * gMean[a];
            double trace = 0;
            for (int a = 0; a < F; a++)
                for (int b = 0; b < F; b++)
                {
                    // Second moments mixed, then centred on the mixed mean: a proper covariance of the mixture.
                    double m2 = w * outer[(p * F + a) * F + b] / n + (1 - w) * gOuter[a * F + b];
                    cov[a * F + b] = m2 - mean[p * F + a] * mean[p * F + b];
                    if (a == b) trace += cov[a * F + b];
                }
            for (int a = 0; a < F; a++) cov[a * F + a] += 1e-3 * trace / F + 1e-8;
            Invert(cov, inverse.AsSpan(p * F * F, F * F));
        }
        return new LocalStatsGaussian(size, c, window, mean, inverse);
    }

    public (float[] Scores, float[][] Maps) ScoreAll(IImageDataset data, IReadOnlyList<int> indices)
    {
        var scores = new float[indices.Count];
        var maps = new float[indices.Count][];
        Parallel.For(0, indices.Count, i => (scores[i], maps[i]) = Score(data.Load(indices[i])));
        return (scores, maps);
    }

    public (float Score, float[] Map) Score(ReadOnlySpan<float> chw)
    {
        int hw = _size * _size;
        var f = LocalStats.Compute(chw, _channels, _size, _window);
        var map = new float[hw];
        Span<double> d = stackalloc double[F];
        float max = float.NegativeInfinity;
        for (int p = 0; p < hw; p++)
        {
            for (int a = 0; a < F; a++) d[a] = f[a * hw + p] - _mean[p * F + a];
            double m = 0;
            for (int a = 0; a < F; a++)
                for (int b = 0; b < F; b++) m += d[a] * _inverse[(p * F + a) * F + b] * d[b];
            map[p] = (float)Math.Sqrt(Math.Max(0, m));
            max = Math.Max(max, map[p]);
        }
        return (max, map);
    }

    /// <summary>Gauss–Jordan inverse of a symmetric positive-definite F×F matrix (partial pivoting).</summary>
    private static void Invert(double[] m, Span<double> inv)
    {
        var a = (double[])m.Clone();
        inv.Clear();
        for (int i = 0; i < F; i++) inv[i * F + i] = 1;
        for (int col = 0; col < F; col++)
        {
            int piv = col;
            for (int r = col + 1; r < F; r++) if (Math.Abs(a[r * F + col]) > Math.Abs(a[piv * F + col])) piv = r;
            if (piv != col)
                for (int k = 0; k < F; k++)
                {
                    (a[col * F + k], a[piv * F + k]) = (a[piv * F + k], a[col * F + k]);
                    (inv[col * F + k], inv[piv * F + k]) = (inv[piv * F + k], inv[col * F + k]);
                }
            double s = a[col * F + col];
            for (int k = 0; k < F; k++) { a[col * F + k] /= s; inv[col * F + k] /= s; }
            for (int r = 0; r < F; r++)
            {
                if (r == col) continue;
                double f = a[r * F + col];
                if (f == 0) continue;
                for (int k = 0; k < F; k++) { a[r * F + k] -= f * a[col * F + k]; inv[r * F + k] -= f * inv[col * F + k]; }
            }
        }
    }
}
