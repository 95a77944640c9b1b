namespace NativeVq.Data.Volumes;

/// <summary>
/// Synthetic head-like "phantom" volumes for the volume demo and tests (no real scans can be shipped). A volume is a
/// pure function of (seed, index): an ellipsoid with a bright rim ("skull"), smoothly folded tissue inside, two dark
/// ellipsoidal "ventricles", Gaussian noise inside the body and an exact-zero background. An anomalous volume carries
/// one local artefact inside the tissue, with its voxel mask: a <c>blob</c> of shifted intensity (smooth edge), a
/// <c>missing</c> region (set to background) or a <c>texture</c> (a foreign 2-voxel checkerboard).
/// </summary>
public sealed class PhantomVolumes(int size, ulong seed, float anomalyFraction = 0f)
{
    public static readonly string[] Defects = ["blob", "missing", "texture"];

    public int Size { get; } = size >= 16 ? size : throw new ArgumentException("phantoms need a size of at least 16");

    /// <summary>The volume, its mask (null when normal) and its defect type ("good" when normal).</summary>
    public (Volume Volume, float[]? Mask, string Defect) Generate(int index)
    {
        var rng = new Rng(seed * 0x9E3779B97F4A7C15UL + (ulong)index + 1);
        int n = Size;
        float c = n / 2f;
        float cx = c + rng.Uniform(-0.04f, 0.04f) * n, cy = c + rng.Uniform(-0.04f, 0.04f) * n, cz = c + rng.Uniform(-0.03f, 0.03f) * n;
        float ax = rng.Uniform(0.34f, 0.4f) * n, ay = rng.Uniform(0.38f, 0.44f) * n, az = rng.Uniform(0.3f, 0.36f) * n;
        float f = 2 * MathF.PI / (n * rng.Uniform(0.28f, 0.36f));
        float p1 = rng.Uniform(0, 6.28f), p2 = rng.Uniform(0, 6.28f), p3 = rng.Uniform(0, 6.28f);
        float vx = rng.Uniform(0.1f, 0.14f) * n, vr = rng.Uniform(0.06f, 0.08f) * n;
        ulong noiseSeed = rng.NextULong();
        string defect = rng.NextFloat() < anomalyFraction ? Defects[rng.NextInt(Defects.Length)] : "good";
        // The artefact: a sphere inside the tissue (normalised ellipsoid radius ≤ 0.55).
        float dr = rng.Uniform(0.1f, 0.15f) * n;
        float th = rng.Uniform(0, 6.28f), rr = rng.Uniform(0.25f, 0.5f);
        float dx = cx + rr * ax * MathF.Cos(th), dy = cy + rr * ay * MathF.Sin(th), dz = cz + rng.Uniform(-0.3f, 0.3f) * az;
        float shift = rng.Uniform(0.45f, 0.6f) * (rng.NextInt(2) == 0 ? 1 : -1);

        var noise = new Rng(noiseSeed);
        var v = new float[n * n * n];
        float[]? mask = defect == "good" ? null : new float[v.Length];
        for (int z = 0; z < n; z++)
            for (int y = 0; y < n; y++)
                for (int x = 0; x < n; x++)
                {
                    int i = x + n * (y + n * z);
                    float ex = (x + 0.5f - cx) / ax, ey = (y + 0.5f - cy) / ay, ez = (z + 0.5f - cz) / az;
                    float r = MathF.Sqrt(ex * ex + ey * ey + ez * ez);
                    if (r > 1) continue; // background stays exactly 0
                    float value;
                    if (r > 0.88f) value = 0.95f; // rim
                    else
                    {
                        value = 0.55f + 0.12f * MathF.Sin(f * x + p1) * MathF.Sin(f * y + p2) * MathF.Sin(f * z + p3);
                        float lx = (x + 0.5f - cx), ly = (y + 0.5f - cy) / 2f, lz = (z + 0.5f - cz) / 1.4f;
                        foreach (float side in (ReadOnlySpan<float>)[-vx, vx])
                            if ((lx - side) * (lx - side) + ly * ly + lz * lz < vr * vr) value = 0.2f;
                    }
                    value += 0.03f * noise.Normal();
                    if (mask is not null)
                    {
                        float d = MathF.Sqrt((x + 0.5f - dx) * (x + 0.5f - dx) + (y + 0.5f - dy) * (y + 0.5f - dy) + (z + 0.5f - dz) * (z + 0.5f - dz));
                        if (d <= dr)
                        {
                            mask[i] = 1;
                            value = defect switch
                            {
                                "blob" => value + shift * (1 - 0.5f * (d / dr) * (d / dr)),
                                "missing" => 0f,
                                _ => ((x / 2 + y / 2 + z / 2) % 2 == 0 ? 0.15f : 0.9f) + 0.03f * noise.Normal(),
                            };
                        }
                    }
                    v[i] = Math.Max(0f, value) * 1000f; // scanner-like units; the slicing normalises per volume
                }
        return (Volume.Create(n, n, n, v), mask, defect);
    }
}
