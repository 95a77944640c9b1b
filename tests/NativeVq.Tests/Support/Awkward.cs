namespace NativeVq.Tests.Support;

/// <summary>Test inputs for bit-for-bit comparisons of a fast path with the path it replaced.</summary>
public static class Awkward
{
    /// <summary>Values with signed zeros, subnormals and both signs, so a changed order or a lost "+ 0" shows.</summary>
    public static float[] Floats(int seed, int len)
    {
        var rng = new Random(seed);
        var a = new float[len];
        for (int i = 0; i < len; i++)
            a[i] = (i % 11) switch
            {
                0 => -0f,
                1 => 0f,
                2 => -1e-40f,
                _ => (float)(rng.NextDouble() * 2 - 1) * MathF.Pow(10, rng.Next(-3, 4)),
            };
        return a;
    }
}
