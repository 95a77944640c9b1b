namespace NativeVq.Data;

/// <summary>
/// Procedural grayscale textures, so the demo and tests need no download. Normal images are either woven stripe
/// patterns ("stripes": two sinusoids at random phase, slightly varying angle and frequency, plus fine noise) or
/// a stochastic gravel ("gravel": a few hundred randomly placed, sized, turned and shaded pebbles over noise, so
/// no two images share a layout — the kind of texture whose prior memorises a small training set, issue 13).
/// Anomalous ones add a defect with a ground-truth mask: a bright scratch (a thick line segment) or a dark
/// spot (a disc). Every image is a pure function of (seed, index, texture), so the set is identical everywhere.
/// </summary>
public sealed class SyntheticTextures : IImageDataset
{
    private readonly ulong _seed;
    private readonly float _anomalyFraction;

    /// <param name="anomalyFraction">Share of images carrying a defect (0 for a training set of normal images).</param>
    /// <param name="texture">"stripes" or "gravel" (<see cref="Kinds"/>).</param>
    public SyntheticTextures(int count, int size, ulong seed, float anomalyFraction = 0f, string texture = "stripes")
    {
        if (count <= 0 || size < 8) throw new ArgumentException("synthetic textures need count > 0 and size >= 8");
        if (!Kinds.Contains(texture)) throw new ArgumentException($"texture must be one of {string.Join(", ", Kinds)}, got '{texture}'");
        Count = count;
        Size = size;
        Texture = texture;
        _seed = seed;
        _anomalyFraction = anomalyFraction;
    }

    /// <summary>The texture kinds this generator draws.</summary>
    public static readonly string[] Kinds = ["stripes", "gravel"];

    /// <summary>Checks a texture name given on the command line.</summary>
    public static string ParseKind(string text, string option) => Kinds.Contains(text) ? text
        : throw new UserError($"{option} must be one of {string.Join(", ", Kinds)}, got '{text}'");

    public string Texture { get; }

    public int Count { get; }
    public int Channels => 1;
    public int Size { get; }

    public string NameOf(int index) => $"synthetic:{index:D5}" + (LabelOf(index) == 1 ? $"_{DefectOf(index)}" : "");

    public int LabelOf(int index) => Draw(index).Defect is null ? 0 : 1;

    /// <summary>"good", "scratch" or "spot".</summary>
    public string DefectOf(int index) => Draw(index).Defect ?? "good";

    public void Load(int index, Span<float> chw) => Render(index, chw, null);

    /// <summary>The defect's pixels as 1, the rest 0.</summary>
    public float[] LoadMask(int index)
    {
        var img = new float[Size * Size];
        var mask = new float[Size * Size];
        Render(index, img, mask);
        return mask;
    }

    private sealed record Params(float Angle, float Freq, float Phase1, float Phase2, ulong NoiseSeed, string? Defect,
        float X0, float Y0, float X1, float Y1, float Radius);

    private Params Draw(int index)
    {
        var rng = new Rng(_seed * 0x9E3779B97F4A7C15UL + (ulong)index + 1);
        float angle = rng.Uniform(0.35f, 0.65f);
        float freq = rng.Uniform(0.16f, 0.2f);
        float p1 = rng.Uniform(0, 6.2832f), p2 = rng.Uniform(0, 6.2832f);
        ulong noise = rng.NextULong();
        string? defect = rng.NextFloat() < _anomalyFraction ? (rng.NextInt(2) == 0 ? "scratch" : "spot") : null;
        float s = Size;
        float x0 = rng.Uniform(0.2f * s, 0.8f * s), y0 = rng.Uniform(0.2f * s, 0.8f * s);
        float len = rng.Uniform(0.25f * s, 0.45f * s), dir = rng.Uniform(0, 6.2832f);
        float radius = rng.Uniform(0.07f * s, 0.12f * s);
        return new Params(angle, freq, p1, p2, noise, defect, x0, y0, x0 + len * MathF.Cos(dir), y0 + len * MathF.Sin(dir), radius);
    }

    private void Render(int index, Span<float> img, Span<float> mask)
    {
        var p = Draw(index);
        var background = new float[Size * Size];
        if (Texture == "gravel") Gravel(background, new Rng(p.NoiseSeed));
        else Stripes(background, p);
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                float val = background[y * Size + x];
                bool inDefect = false;
                if (p.Defect == "scratch") inDefect = SegmentDistance(x, y, p) < Math.Max(1.0f, Size / 32f);
                else if (p.Defect == "spot") inDefect = MathF.Sqrt((x - p.X0) * (x - p.X0) + (y - p.Y0) * (y - p.Y0)) < p.Radius;
                if (inDefect) val = p.Defect == "scratch" ? 0.95f : -0.95f;
                img[y * Size + x] = Math.Clamp(val, -1f, 1f);
                if (!mask.IsEmpty) mask[y * Size + x] = inDefect ? 1f : 0f;
            }
    }

    private void Stripes(Span<float> img, Params p)
    {
        var noise = new Rng(p.NoiseSeed);
        float ca = MathF.Cos(p.Angle), sa = MathF.Sin(p.Angle);
        float w = 2 * MathF.PI * p.Freq;
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                float u = x * ca + y * sa, v = -x * sa + y * ca;
                img[y * Size + x] = 0.45f * MathF.Sin(w * u + p.Phase1) + 0.25f * MathF.Sin(w * 1.5f * v + p.Phase2) + noise.Uniform(-0.05f, 0.05f);
            }
    }

    /// <summary>
    /// Pebbles: about one per 24 pixels (so they overlap and cover the ground), ellipses of semi-axes size/48 to
    /// size/14 at a random angle, each a random grey shaded darker toward its rim, painted in order over a dark,
    /// noisy ground; fine noise on top.
    /// </summary>
    private void Gravel(Span<float> img, Rng rng)
    {
        int s = Size;
        for (int i = 0; i < img.Length; i++) img[i] = -0.3f + rng.Uniform(-0.1f, 0.1f);
        int stones = s * s / 24;
        float rMin = Math.Max(1f, s / 48f), rMax = Math.Max(1.5f, s / 14f);
        for (int k = 0; k < stones; k++)
        {
            float cx = rng.Uniform(-2, s + 2), cy = rng.Uniform(-2, s + 2);
            float ra = rng.Uniform(rMin, rMax), rb = rng.Uniform(rMin, rMax), turn = rng.Uniform(0, MathF.PI);
            float grey = rng.Uniform(-0.6f, 0.7f);
            float c = MathF.Cos(turn), sn = MathF.Sin(turn), reach = MathF.Max(ra, rb);
            int x0 = Math.Max(0, (int)(cx - reach)), x1 = Math.Min(s - 1, (int)(cx + reach) + 1);
            int y0 = Math.Max(0, (int)(cy - reach)), y1 = Math.Min(s - 1, (int)(cy + reach) + 1);
            for (int y = y0; y <= y1; y++)
                for (int x = x0; x <= x1; x++)
                {
                    float u = ((x - cx) * c + (y - cy) * sn) / ra, v = (-(x - cx) * sn + (y - cy) * c) / rb;
                    float d2 = u * u + v * v;
                    if (d2 < 1f) img[y * s + x] = grey - 0.3f * d2;
                }
        }
        for (int i = 0; i < img.Length; i++) img[i] += rng.Uniform(-0.05f, 0.05f);
    }

    private static float SegmentDistance(float x, float y, Params p)
    {
        float dx = p.X1 - p.X0, dy = p.Y1 - p.Y0;
        float t = Math.Clamp(((x - p.X0) * dx + (y - p.Y0) * dy) / (dx * dx + dy * dy), 0f, 1f);
        float px = p.X0 + t * dx - x, py = p.Y0 + t * dy - y;
        return MathF.Sqrt(px * px + py * py);
    }
}
