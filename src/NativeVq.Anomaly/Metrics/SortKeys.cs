namespace NativeVq.Anomaly.Metrics;

/// <summary>
/// Sorting of float scores for the metric sweeps. Scores are mapped to order-preserving <see cref="uint"/> keys
/// (IEEE bits with the sign handled; -0 folded onto +0 so equal floats give equal keys) and sorted with an LSD
/// radix sort (3 passes of 11 bits). Why not <c>Array.Sort</c>: pixel metrics sort ~10M values, and a radix sort
/// is O(n), allocation-light (one scratch array) and has no per-element objects. Deterministic by construction.
/// </summary>
internal static class SortKeys
{
    /// <summary>Below this size a comparison sort is cheaper than three histogram passes.</summary>
    private const int RadixMin = 512;

    /// <summary>Order-preserving key of a finite float (NaN must be rejected before).</summary>
    public static uint Key(float f)
    {
        if (f == 0f) f = 0f; // -0 → +0
        uint b = BitConverter.SingleToUInt32Bits(f);
        return (b & 0x8000_0000u) != 0 ? ~b : b | 0x8000_0000u;
    }

    /// <summary>Inverse of <see cref="Key"/>.</summary>
    public static float Value(uint key)
        => BitConverter.UInt32BitsToSingle((key & 0x8000_0000u) != 0 ? key & 0x7FFF_FFFFu : ~key);

    /// <summary>Sorts <paramref name="keys"/> ascending in place.</summary>
    public static void Sort(uint[] keys, int count)
    {
        if (count < RadixMin) { Array.Sort(keys, 0, count); return; }
        var tmp = new uint[count];
        uint[] src = keys, dst = tmp;
        var hist = new int[2048];
        for (int shift = 0; shift < 32; shift += 11)
        {
            Array.Clear(hist);
            for (int i = 0; i < count; i++) hist[(src[i] >> shift) & 2047]++;
            if (hist[(src[0] >> shift) & 2047] == count) continue; // all keys share this digit: the pass is a no-op
            int sum = 0;
            for (int d = 0; d < 2048; d++) { int c = hist[d]; hist[d] = sum; sum += c; }
            for (int i = 0; i < count; i++) { uint k = src[i]; dst[hist[(k >> shift) & 2047]++] = k; }
            (src, dst) = (dst, src);
        }
        if (!ReferenceEquals(src, keys)) Array.Copy(src, keys, count);
    }

    /// <summary>Sorts <paramref name="keys"/> ascending in place, moving <paramref name="payload"/> along (order among equal keys unspecified).</summary>
    public static void Sort(uint[] keys, int[] payload, int count)
    {
        if (count < RadixMin) { Array.Sort(keys, payload, 0, count); return; }
        var tmpK = new uint[count];
        var tmpP = new int[count];
        uint[] sk = keys, dk = tmpK;
        int[] sp = payload, dp = tmpP;
        var hist = new int[2048];
        for (int shift = 0; shift < 32; shift += 11)
        {
            Array.Clear(hist);
            for (int i = 0; i < count; i++) hist[(sk[i] >> shift) & 2047]++;
            if (hist[(sk[0] >> shift) & 2047] == count) continue;
            int sum = 0;
            for (int d = 0; d < 2048; d++) { int c = hist[d]; hist[d] = sum; sum += c; }
            for (int i = 0; i < count; i++)
            {
                uint k = sk[i];
                int at = hist[(k >> shift) & 2047]++;
                dk[at] = k; dp[at] = sp[i];
            }
            (sk, dk) = (dk, sk);
            (sp, dp) = (dp, sp);
        }
        if (!ReferenceEquals(sk, keys)) { Array.Copy(sk, keys, count); Array.Copy(sp, payload, count); }
    }
}
