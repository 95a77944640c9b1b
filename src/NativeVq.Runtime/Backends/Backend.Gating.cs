namespace NativeVq;

// Gating kernels of the gated residual blocks: GLU over channels and dropout.
public abstract partial class Backend
{
    /// <summary>y[n,c,p] = x[n,c,p] · sigmoid(x[n,c+C/2,p]) for x [N,C,...], y [N,C/2,...] (torch glu, dim 1).</summary>
    public void Glu(Tensor x, Tensor y)
    {
        var (n, half, hw) = GluGeometry(x, y);
        using var _ = Profiler.Kernel(this, "glu", 5.0 * y.Numel, 12.0 * y.Numel, x, y);
        GluCore(x, y, n, half, hw);
    }

    /// <summary>dx_a += dy·σ(b), dx_b += dy·a·σ(b)(1−σ(b)) (accumulates into both halves of dx).</summary>
    public void GluBackward(Tensor x, Tensor dy, Tensor dx)
    {
        var (n, half, hw) = GluGeometry(x, dy);
        ShapeUtil.RequireSame(x, dx, "glu.backward");
        using var _ = Profiler.Kernel(this, "glu.backward", 10.0 * dy.Numel, 28.0 * dy.Numel, x, dy, dx);
        GluBackwardCore(x, dy, dx, n, half, hw);
    }

    /// <summary>
    /// y = x · keep / (1 − p) with keep(i) = <see cref="DropoutHash.Keep"/>(seed, i, p) — a counter-based hash,
    /// so the mask is a pure function of (seed, flat index) and identical on every backend and in the backward.
    /// With <paramref name="accumulate"/> it is y += x·keep/(1−p): the backward (x = dy, y = dx, same seed).
    /// </summary>
    public void Dropout(Tensor x, Tensor y, float p, ulong seed, bool accumulate)
    {
        ShapeUtil.RequireSame(x, y, "dropout");
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), $"dropout: p = {p} must be in [0, 1)");
        using var _ = Profiler.Kernel(this, accumulate ? "dropout.acc" : "dropout", 12.0 * x.Numel, 4.0 * (accumulate ? 3 : 2) * x.Numel, x, y);
        DropoutCore(x, y, DropoutHash.Threshold(p), 1f / (1f - p), seed, accumulate);
    }

    private static (int n, int half, int hw) GluGeometry(Tensor x, Tensor y)
    {
        if (x.Rank < 2 || x.Dim(1) % 2 != 0 || y.Rank != x.Rank || y.Dim(0) != x.Dim(0) || y.Dim(1) * 2 != x.Dim(1) || y.Numel * 2 != x.Numel)
            throw new ArgumentException($"glu: x {ShapeUtil.Format(x.Shape)} needs an even channel count and y {ShapeUtil.Format(y.Shape)} half of it");
        int n = x.Dim(0), half = x.Dim(1) / 2;
        return (n, half, n * half == 0 ? 0 : y.Numel / (n * half));
    }

    protected abstract void GluCore(Tensor x, Tensor y, int n, int half, int hw);
    protected abstract void GluBackwardCore(Tensor x, Tensor dy, Tensor dx, int n, int half, int hw);
    /// <summary>keep(i) ⇔ (hash(seed, i) &gt;&gt; 8) ≥ threshold; kept values are multiplied by scale.</summary>
    protected abstract void DropoutCore(Tensor x, Tensor y, int threshold, float scale, ulong seed, bool accumulate);
}

/// <summary>
/// The dropout mask's random numbers: a stateless counter-based hash of (seed, element index), so any element's
/// keep bit can be recomputed anywhere — by any GPU thread, by the cpu kernel's SIMD lanes, by the backward —
/// without storing a mask or sharing RNG state. Only 32-bit integer multiply, xor, add and shifts (all native
/// PTX), no floats: the cpu and GPU masks are bit-identical. The mixer is the murmur3 finaliser applied twice
/// with the seed folded in between; the top 24 bits are the uniform draw u ∈ [0, 1) in steps of 2⁻²⁴.
/// </summary>
public static class DropoutHash
{
    public const uint Golden = 0x9E3779B9u;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static uint Mix(uint h)
    {
        h ^= h >> 16; h *= 0x85EBCA6Bu;
        h ^= h >> 13; h *= 0xC2B2AE35u;
        h ^= h >> 16;
        return h;
    }

    /// <summary>The two 32-bit keys the element hash uses (derived from the 64-bit seed once per launch).</summary>
    public static (uint k0, uint k1) Keys(ulong seed)
    {
        uint lo = (uint)seed, hi = (uint)(seed >> 32);
        uint k0 = Mix(lo ^ Mix(hi + Golden));
        uint k1 = Mix(k0 + 0x632BE5ABu) ^ hi;
        return (k0, k1);
    }

    /// <summary>32 random bits for element <paramref name="i"/> under keys (k0, k1).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static uint Hash(uint k0, uint k1, uint i) => Mix(Mix(i * Golden + k0) ^ k1);

    /// <summary>The integer threshold on the 24-bit draw: keep ⇔ draw ≥ round(p·2²⁴), so P(keep) = 1 − p (to 2⁻²⁴).</summary>
    public static int Threshold(float p) => (int)Math.Round((double)p * (1 << 24));

    public static bool Keep(ulong seed, int i, float p)
    {
        var (k0, k1) = Keys(seed);
        return (int)(Hash(k0, k1, (uint)i) >> 8) >= Threshold(p);
    }
}
