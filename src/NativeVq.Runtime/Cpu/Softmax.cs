using System.Numerics.Tensors;

namespace NativeVq.Cpu;

/// <summary>
/// Softmax family on spans (CPU twins of kernels/NativeVq.Kernels/SoftmaxKernels.cs).
/// The channel softmax of NCHW reduces over a strided dimension, so instead of walking one position at a
/// time (a gather of c values hw apart) it processes a tile of up to <see cref="Tile"/> neighbouring positions
/// together: every channel row of the tile is contiguous, and max / exp / sum become SIMD row operations
/// (TensorPrimitives) over the tile. hw = 1 (a plain [n, c] softmax) takes a contiguous per-row path instead.
/// Work is split over (image, tile) or rows with fixed chunking, and every reduction runs in a fixed order,
/// so results are deterministic.
/// </summary>
public static class CpuSoftmax
{
    /// <summary>Positions per tile: 256 floats of per-position state stay on the stack.</summary>
    public const int Tile = 256;

    /// <summary>Elements per parallel chunk (below this one thread does the whole job).</summary>
    private const int GrainElements = 16 * 1024;

    public static void SoftmaxChannels(float[] x, float[] y, int n, int c, int hw, bool log)
    {
        if (n == 0 || c == 0 || hw == 0) return;
        if (hw == 1)
        {
            CpuParallel.For(n, Math.Max(1, GrainElements / c), (s, e) =>
            {
                for (int i = s; i < e; i++) SoftmaxRow(x.AsSpan(i * c, c), y.AsSpan(i * c, c), log);
            });
            return;
        }
        int tiles = (hw + Tile - 1) / Tile, tw = Math.Min(Tile, hw);
        CpuParallel.For(n * tiles, Math.Max(1, GrainElements / (c * tw)), (s, e) =>
        {
            for (int it = s; it < e; it++)
            {
                int i = it / tiles, p0 = (it - i * tiles) * Tile;
                SoftmaxTile(x, y, i * c * hw + p0, c, hw, Math.Min(Tile, hw - p0), log);
            }
        });
    }

    private static void SoftmaxRow(ReadOnlySpan<float> x, Span<float> y, bool log)
    {
        float m = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, m, y);
        VectorMath.Exp(y, y);
        float s = TensorPrimitives.Sum(y);
        if (log)
        {
            // (x − m) − log s: subtracting m first keeps the digits that m + log s would round away.
            TensorPrimitives.Subtract(x, m, y);
            TensorPrimitives.Subtract(y, MathF.Log(s), y);
        }
        else TensorPrimitives.Multiply(y, 1f / s, y);
    }

    private static void SoftmaxTile(float[] x, float[] y, int o, int c, int hw, int len, bool log)
    {
        Span<float> m = stackalloc float[len];
        Span<float> s = stackalloc float[len];
        x.AsSpan(o, len).CopyTo(m);
        for (int ch = 1; ch < c; ch++) TensorPrimitives.Max(m, x.AsSpan(o + ch * hw, len), m);
        s.Clear();
        for (int ch = 0; ch < c; ch++)
        {
            var yr = y.AsSpan(o + ch * hw, len);
            TensorPrimitives.Subtract(x.AsSpan(o + ch * hw, len), m, yr);
            VectorMath.Exp(yr, yr);
            TensorPrimitives.Add(s, yr, s);
        }
        if (log)
        {
            TensorPrimitives.Log(s, s);
            // y = (x − m) − log s, not x − (m + log s): the latter rounds the logsumexp at the scale of m.
            for (int ch = 0; ch < c; ch++)
            {
                var yr = y.AsSpan(o + ch * hw, len);
                TensorPrimitives.Subtract(x.AsSpan(o + ch * hw, len), m, yr);
                TensorPrimitives.Subtract(yr, s, yr);
            }
        }
        else
        {
            TensorPrimitives.Reciprocal(s, s);
            for (int ch = 0; ch < c; ch++) TensorPrimitives.Multiply(y.AsSpan(o + ch * hw, len), s, y.AsSpan(o + ch * hw, len));
        }
    }

    /// <summary>dx += softmax backward from the output y (log: y holds log-probabilities).</summary>
    public static void SoftmaxChannelsBackward(float[] y, float[] dy, float[] dx, int n, int c, int hw, bool log)
    {
        if (n == 0 || c == 0 || hw == 0) return;
        int tiles = (hw + Tile - 1) / Tile, tw = Math.Min(Tile, hw);
        CpuParallel.For(n * tiles, Math.Max(1, GrainElements / (c * tw)), (s, e) =>
        {
            Span<float> d = stackalloc float[tw];
            Span<float> tmp = stackalloc float[tw];
            for (int it = s; it < e; it++)
            {
                int i = it / tiles, p0 = (it - i * tiles) * Tile, len = Math.Min(Tile, hw - p0), o = i * c * hw + p0;
                var dd = d[..len];
                var t = tmp[..len];
                dd.Clear();
                // d = Σ_c y·dy (softmax) or Σ_c dy (log-softmax), per position.
                for (int ch = 0; ch < c; ch++)
                {
                    if (log) TensorPrimitives.Add(dd, dy.AsSpan(o + ch * hw, len), dd);
                    else TensorPrimitives.MultiplyAdd(y.AsSpan(o + ch * hw, len), dy.AsSpan(o + ch * hw, len), dd, dd);
                }
                for (int ch = 0; ch < c; ch++)
                {
                    var yr = y.AsSpan(o + ch * hw, len);
                    var gr = dy.AsSpan(o + ch * hw, len);
                    var xr = dx.AsSpan(o + ch * hw, len);
                    if (log)
                    {
                        VectorMath.Exp(yr, t);
                        TensorPrimitives.Multiply(t, dd, t);
                        TensorPrimitives.Add(xr, gr, xr);
                        TensorPrimitives.Subtract(xr, t, xr);
                    }
                    else
                    {
                        TensorPrimitives.Subtract(gr, dd, t);
                        TensorPrimitives.MultiplyAdd(yr, t, xr, xr);
                    }
                }
            }
        });
    }

    /// <summary>Throws when a target lies outside [0, k): a clear error instead of reading another position's logit.</summary>
    public static void ValidateTargets(ReadOnlySpan<int> targets, int k)
    {
        for (int i = 0; i < targets.Length; i++)
            if ((uint)targets[i] >= (uint)k)
                throw new ArgumentOutOfRangeException(nameof(targets), $"cross_entropy: target {targets[i]} at flat position {i} is outside [0, {k})");
    }

    /// <summary>nll[i,p] = logsumexp − logits[target]; lse[i,p] = logsumexp over the k classes (logits [n,k,hw]).</summary>
    public static void CrossEntropy(float[] x, int[] targets, float[] nll, float[] lse, int n, int k, int hw)
    {
        ValidateTargets(targets.AsSpan(0, n * hw), k);
        if (n == 0 || k == 0 || hw == 0) return;
        int tiles = (hw + Tile - 1) / Tile, tw = Math.Min(Tile, hw);
        CpuParallel.For(n * tiles, Math.Max(1, GrainElements / (k * tw)), (s, e) =>
        {
            Span<float> m = stackalloc float[tw];
            Span<float> sum = stackalloc float[tw];
            Span<float> tmp = stackalloc float[tw];
            for (int it = s; it < e; it++)
            {
                int i = it / tiles, p0 = (it - i * tiles) * Tile, len = Math.Min(Tile, hw - p0), o = i * k * hw + p0;
                var mm = m[..len]; var ss = sum[..len]; var t = tmp[..len];
                x.AsSpan(o, len).CopyTo(mm);
                for (int ch = 1; ch < k; ch++) TensorPrimitives.Max(mm, x.AsSpan(o + ch * hw, len), mm);
                ss.Clear();
                for (int ch = 0; ch < k; ch++)
                {
                    TensorPrimitives.Subtract(x.AsSpan(o + ch * hw, len), mm, t);
                    VectorMath.Exp(t, t);
                    TensorPrimitives.Add(ss, t, ss);
                }
                TensorPrimitives.Log(ss, ss);
                var l = lse.AsSpan(i * hw + p0, len);
                TensorPrimitives.Add(ss, mm, l);
                for (int p = 0; p < len; p++)
                {
                    int q = i * hw + p0 + p;
                    nll[q] = (mm[p] - x[o + targets[q] * hw + p]) + ss[p]; // (m − x_t) + log s: exact-ish for large logits
                }
            }
        });
    }

    /// <summary>dlogits += dnll · (softmax − onehot), softmax recovered as exp(logits − lse).</summary>
    public static void CrossEntropyBackward(float[] x, int[] targets, float[] lse, float[] dnll, float[] dx, int n, int k, int hw)
    {
        if (n == 0 || k == 0 || hw == 0) return;
        int tiles = (hw + Tile - 1) / Tile, tw = Math.Min(Tile, hw);
        CpuParallel.For(n * tiles, Math.Max(1, GrainElements / (k * tw)), (s, e) =>
        {
            Span<float> tmp = stackalloc float[tw];
            for (int it = s; it < e; it++)
            {
                int i = it / tiles, p0 = (it - i * tiles) * Tile, len = Math.Min(Tile, hw - p0), o = i * k * hw + p0;
                var t = tmp[..len];
                var l = lse.AsSpan(i * hw + p0, len);
                var w = dnll.AsSpan(i * hw + p0, len);
                for (int ch = 0; ch < k; ch++)
                {
                    var xr = dx.AsSpan(o + ch * hw, len);
                    TensorPrimitives.Subtract(x.AsSpan(o + ch * hw, len), l, t);
                    VectorMath.Exp(t, t);
                    TensorPrimitives.MultiplyAdd(t, w, xr, xr);
                }
                for (int p = 0; p < len; p++)
                {
                    int q = i * hw + p0 + p;
                    dx[o + targets[q] * hw + p] -= w[p];
                }
            }
        });
    }

    /// <summary>Causal row softmax of scale·scores over [batch, n, n]; see Backend.MaskedSoftmaxRows.</summary>
    public static void MaskedSoftmaxRows(float[] x, float[] y, int batch, int n, float scale, bool strict)
    {
        if (batch == 0 || n == 0) return;
        CpuParallel.For(batch * n, Math.Max(1, GrainElements / n), (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                int q = r % n, len = strict ? q : q + 1;
                var yr = y.AsSpan(r * n, n);
                if (len > 0)
                {
                    var ya = yr[..len];
                    TensorPrimitives.Multiply(x.AsSpan(r * n, len), scale, ya);
                    float m = TensorPrimitives.Max(ya);
                    TensorPrimitives.Subtract(ya, m, ya);
                    VectorMath.Exp(ya, ya);
                    TensorPrimitives.Multiply(ya, 1f / TensorPrimitives.Sum(ya), ya);
                }
                yr[len..].Clear();
            }
        });
    }

    /// <summary>dscores += scale·P∘(dP − Σ_t P∘dP) over the allowed keys of each row.</summary>
    public static void MaskedSoftmaxRowsBackward(float[] p, float[] dp, float[] dx, int batch, int n, float scale, bool strict)
    {
        if (batch == 0 || n == 0) return;
        CpuParallel.For(batch * n, Math.Max(1, GrainElements / n), (s, e) =>
        {
            float[]? heap = n > 2048 ? new float[n] : null;
            Span<float> tmp = heap is not null ? heap : stackalloc float[n];
            for (int r = s; r < e; r++)
            {
                int q = r % n, len = strict ? q : q + 1;
                if (len == 0) continue;
                var pr = p.AsSpan(r * n, len);
                var gr = dp.AsSpan(r * n, len);
                var xr = dx.AsSpan(r * n, len);
                var t = tmp[..len];
                float d = TensorPrimitives.Dot(pr, gr);
                TensorPrimitives.Multiply(pr, scale, t);       // t = scale·P
                TensorPrimitives.MultiplyAdd(t, gr, xr, xr);   // += scale·P·dP
                TensorPrimitives.MultiplyAdd(t, -d, xr, xr);   // −= scale·P·d
            }
        });
    }
}

public sealed partial class CpuBackend
{
    protected override void SoftmaxChannelsCore(Tensor x, Tensor y, int n, int c, int hw, bool log)
        => CpuSoftmax.SoftmaxChannels(Array(x), Array(y), n, c, hw, log);

    protected override void SoftmaxChannelsBackwardCore(Tensor y, Tensor dy, Tensor dx, int n, int c, int hw, bool log)
        => CpuSoftmax.SoftmaxChannelsBackward(Array(y), Array(dy), Array(dx), n, c, hw, log);

    protected override void CrossEntropyCore(Tensor logits, Tensor targets, Tensor nll, Tensor lse, int n, int k, int hw)
        => CpuSoftmax.CrossEntropy(Array(logits), IntArray(targets), Array(nll), Array(lse), n, k, hw);

    protected override void CrossEntropyBackwardCore(Tensor logits, Tensor targets, Tensor lse, Tensor dnll, Tensor dlogits, int n, int k, int hw)
        => CpuSoftmax.CrossEntropyBackward(Array(logits), IntArray(targets), Array(lse), Array(dnll), Array(dlogits), n, k, hw);

    protected override void MaskedSoftmaxRowsCore(Tensor scores, Tensor probs, int batch, int n, float scale, bool strict)
        => CpuSoftmax.MaskedSoftmaxRows(Array(scores), Array(probs), batch, n, scale, strict);

    protected override void MaskedSoftmaxRowsBackwardCore(Tensor probs, Tensor dprobs, Tensor dscores, int batch, int n, float scale, bool strict)
        => CpuSoftmax.MaskedSoftmaxRowsBackward(Array(probs), Array(dprobs), Array(dscores), batch, n, scale, strict);

    private int[] IntArray(Tensor t)
    {
        RequireBackend(this, t);
        t.RequireDType(DType.I32);
        return ((CpuMemory)t.Memory).I;
    }
}
