namespace NativeVq.Anomaly.Scoring;

/// <summary>
/// The image score `--image-score` names: one kind (its raw value), or several joined by '+' — then each part is
/// rank-normalised against the calibration normals (a piecewise-linear empirical CDF: 0 at their smallest value,
/// 1 at their largest, extended linearly beyond) and the parts are summed, so no part dominates by its units.
/// </summary>
public sealed class ImageScorer
{
    private readonly ImageScoreKind[] _parts;
    private readonly double _lambda;
    private double _beta = 1;
    private double[][]? _sorted;

    public ImageScorer(string spec, double lambda)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new UserError("--image-score is empty");
        _parts = spec.Split('+').Select(p => ImageScoreValues.Parse(p.Trim())).Distinct().ToArray();
        _lambda = lambda;
        Name = string.Join("+", _parts.Select(ImageScoreValues.Name));
    }

    public string Name { get; }
    public IReadOnlyList<ImageScoreKind> Parts => _parts;
    public bool NeedsMaps => _parts.Contains(ImageScoreKind.MapTopK);
    /// <summary>A part needs the training images' encoder outputs (<see cref="FeatureBank"/>).</summary>
    public bool NeedsBank => _parts.Contains(ImageScoreKind.Knn);
    /// <summary>A part depends on λ (mood); the map part depends on τ and the map settings instead.</summary>
    public bool NeedsLambda => _parts.Contains(ImageScoreKind.Mood);
    /// <summary>Needs calibration normals before <see cref="Score"/> (a combination, or the complexity fit).</summary>
    public bool NeedsCalibration => _parts.Length > 1 || _parts.Contains(ImageScoreKind.Complexity);
    public bool IsCalibrated => _sorted is not null;
    /// <summary>The complexity weight β fitted on the calibration normals, clamped to [0, 1] (1 before fitting).</summary>
    public double Beta => _beta;

    /// <summary>The raw values of one scored image at this scorer's λ.</summary>
    public ImageScoreFeatures Features(ImageScore s) => ImageScoreFeatures.From(s, _lambda);

    /// <summary>Fits β (complexity) and each part's normalisation on scored normal images the models never trained on.</summary>
    public void Calibrate(IReadOnlyList<ImageScore> normals) => Calibrate(normals.Select(Features).ToList());

    /// <summary>Fits β (complexity) and each part's normalisation on the features of calibration normals.</summary>
    public void Calibrate(IReadOnlyList<ImageScoreFeatures> normals)
    {
        if (normals.Count < 2) throw new UserError($"image score {Name} needs at least 2 calibration images, got {normals.Count}");
        if (NeedsMaps && normals.Any(f => f.MapTopK is null)) throw new UserError($"image score {Name} needs calibration images scored with pixel maps");
        if (NeedsBank && normals.Any(f => f.Knn is null)) throw new UserError($"image score {Name} needs calibration images scored with the run's feature bank ({FeatureBank.FileName})");
        if (_parts.Contains(ImageScoreKind.Complexity))
        {
            var nll = normals.Select(f => f.NllBits).ToArray();
            var len = normals.Select(f => f.LengthBits).ToArray();
            double ml = len.Average(), mn = nll.Average(), cov = 0, var = 0;
            for (int i = 0; i < len.Length; i++) { cov += (len[i] - ml) * (nll[i] - mn); var += (len[i] - ml) * (len[i] - ml); }
            // Clamped to [0, 1]: 1 is Serrà et al.'s subtraction of the whole compressed length, and a negative β
            // would reward compressibility, so an input far simpler than the calibration images (a flat or ramp image
            // on a texture run) would score *below* the normals. On the demo's textures the free fit gave β = −0.078
            // from a 1 % spread of lengths, and a ramp image with 5x the normals' NLL scored as normal.
            _beta = var > 0 ? Math.Clamp(cov / var, 0, 1) : 0;
        }
        _sorted = _parts.Select(k => normals.Select(f => ImageScoreValues.Raw(k, f, _beta)).Order().ToArray()).ToArray();
    }

    public double Score(ImageScore s) => Score(Features(s));

    public double Score(ImageScoreFeatures f)
    {
        if (_parts.Length == 1 && (_sorted is not null || !NeedsCalibration)) return ImageScoreValues.Raw(_parts[0], f, _beta);
        if (_sorted is null) throw new InvalidOperationException($"image score {Name} must be calibrated first");
        double sum = 0;
        for (int j = 0; j < _parts.Length; j++) sum += Normalise(_sorted[j], ImageScoreValues.Raw(_parts[j], f, _beta));
        return sum;
    }

    /// <summary>Piecewise-linear empirical CDF of <paramref name="sorted"/> at x, strictly increasing, extended linearly past both ends.</summary>
    public static double Normalise(double[] sorted, double x)
    {
        int n = sorted.Length;
        double lo = sorted[0], hi = sorted[^1], range = hi - lo;
        if (range <= 0) return x > hi ? 1 + (x - hi) : x < lo ? -(lo - x) : 0.5;
        if (x <= lo) return (x - lo) / range;
        if (x >= hi) return 1 + (x - hi) / range;
        int i = Array.BinarySearch(sorted, x);
        if (i >= 0)
        {
            // Average rank over a run of equal values.
            int a = i, b = i;
            while (a > 0 && sorted[a - 1] == x) a--;
            while (b < n - 1 && sorted[b + 1] == x) b++;
            return (a + b) / 2.0 / (n - 1);
        }
        int upper = ~i, lower = upper - 1;
        return (lower + (x - sorted[lower]) / (sorted[upper] - sorted[lower])) / (n - 1);
    }
}
