namespace NativeVq.Data;

/// <summary>
/// Procedural grayscale textures, so the demo and tests need no download. Normal images are woven stripe
/// patterns (two sinusoids at random phase, slightly varying angle and frequency, plus fine noise).
/// Anomalous ones add a defect with a ground-truth mask: a bright scratch (a thick line segment) or a dark
/// spot (a disc). Every image is a pure function of (seed, index), so the set is identical everywhere.
/// </summary>
public sealed class SyntheticTextures : IImageDataset
{
    private readonly ulong _seed;
    private readonly float _anomalyFraction;

    /// <param name="anomalyFraction">Share of images carrying a defect (0 for a training set of normal images).</param>
    public SyntheticTextures(int count, int size, ulong seed, float anomalyFraction = 0f)
    {
        if (count <= 0 || size < 8) throw new ArgumentException("synthetic textures need count > 0 and size >= 8");
        Count = count;
        Size = size;
        _seed = seed;
        _anomalyFraction = anomalyFraction;
    }

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
        var noise = new Rng(p.NoiseSeed);
        float ca = MathF.Cos(p.Angle), sa = MathF.Sin(p.Angle);
        float w = 2 * MathF.PI * p.Freq;
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                float u = x * ca + y * sa, v = -x * sa + y * ca;
                float val = 0.45f * MathF.Sin(w * u + p.Phase1) + 0.25f * MathF.Sin(w * 1.5f * v + p.Phase2) + noise.Uniform(-0.05f, 0.05f);
                bool inDefect = false;
                if (p.Defect == "scratch") inDefect = SegmentDistance(x, y, p) < Math.Max(1.0f, Size / 32f);
                else if (p.Defect == "spot") inDefect = MathF.Sqrt((x - p.X0) * (x - p.X0) + (y - p.Y0) * (y - p.Y0)) < p.Radius;
                if (inDefect) val = p.Defect == "scratch" ? 0.95f : -0.95f;
                img[y * Size + x] = Math.Clamp(val, -1f, 1f);
                if (!mask.IsEmpty) mask[y * Size + x] = inDefect ? 1f : 0f;
            }
    }

    private static float SegmentDistance(float x, float y, Params p)
    {
        float dx = p.X1 - p.X0, dy = p.Y1 - p.Y0;
        float t = Math.Clamp(((x - p.X0) * dx + (y - p.Y0) * dy) / (dx * dx + dy * dy), 0f, 1f);
        float px = p.X0 + t * dx - x, py = p.Y0 + t * dy - y;
        return MathF.Sqrt(px * px + py * py);
    }
}
