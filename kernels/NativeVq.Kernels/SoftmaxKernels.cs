using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// Softmax family on the GPU. CPU twin: src/NativeVq.Runtime/Cpu/Softmax.cs (CpuSoftmax).
/// Tests: tests/NativeVq.Tests/Kernels/SoftmaxParityTests.cs; bench: bench/NativeVq.Bench/AttentionBench.cs.
/// Reductions over a softmax axis run sequentially inside one thread (one thread per position or per output
/// element), so every result has a fixed summation order and needs no shared memory or atomics; the attention rows
/// (contiguous) also have one-warp-per-row kernels reducing with warp shuffles, which cuda runs; cuda runs the channel
/// softmax and cross-entropy with several lanes per position (ChannelSoftmaxWarpKernels).
/// Flags are ints (ILGPU kernel parameters must be blittable; bool is not).
/// </summary>
public static class SoftmaxKernels
{
    /// <summary>One thread per position (i, p) of x viewed as [n, c, hw]: max, Σexp, then write.</summary>
    public static void SoftmaxChannels(Index1D index, ArrayView<float> x, ArrayView<float> y, int c, int hw, int log)
    {
        int i = index / hw, p = index - i * hw, o = i * c * hw + p;
        float m = x[o];
        for (int ch = 1; ch < c; ch++) m = XMath.Max(m, x[o + ch * hw]);
        float s = 0f;
        for (int ch = 0; ch < c; ch++) s += XMath.Exp(x[o + ch * hw] - m);
        if (log != 0)
        {
            float ls = XMath.Log(s);
            for (int ch = 0; ch < c; ch++) y[o + ch * hw] = (x[o + ch * hw] - m) - ls;
        }
        else
        {
            float inv = 1f / s;
            for (int ch = 0; ch < c; ch++) y[o + ch * hw] = XMath.Exp(x[o + ch * hw] - m) * inv;
        }
    }

    /// <summary>One thread per position: dx += y(dy − Σ y·dy), or dy − exp(y)·Σ dy for log-softmax.</summary>
    public static void SoftmaxChannelsBackward(Index1D index, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int c, int hw, int log)
    {
        int i = index / hw, p = index - i * hw, o = i * c * hw + p;
        float d = 0f;
        for (int ch = 0; ch < c; ch++) d += log != 0 ? dy[o + ch * hw] : y[o + ch * hw] * dy[o + ch * hw];
        for (int ch = 0; ch < c; ch++)
        {
            int j = o + ch * hw;
            dx[j] += log != 0 ? dy[j] - XMath.Exp(y[j]) * d : y[j] * (dy[j] - d);
        }
    }

    /// <summary>
    /// One thread per position: nll and logsumexp in one pass over the logits (online max and sum: the sum is rescaled
    /// by exp(m_old − m_new) when the max grows), then the target's logit; a target outside [0, k) gives NaN.
    /// </summary>
    public static void CrossEntropy(Index1D index, ArrayView<float> x, ArrayView<int> targets, ArrayView<float> nll, ArrayView<float> lse, int k, int hw)
    {
        int i = index / hw, p = index - i * hw, o = i * k * hw + p;
        float m = x[o], s = 1f;
        for (int ch = 1; ch < k; ch++)
        {
            float v = x[o + ch * hw];
            if (v > m) { s = s * XMath.Exp(m - v) + 1f; m = v; }
            else s += XMath.Exp(v - m);
        }
        float ls = XMath.Log(s);
        lse[index] = m + ls;
        int t = targets[index];
        nll[index] = t >= 0 && t < k ? (m - x[o + t * hw]) + ls : float.NaN;
    }

    /// <summary>One thread per logit: dx += dnll·(exp(x − lse) − [class = target]).</summary>
    public static void CrossEntropyBackward(Index1D index, ArrayView<float> x, ArrayView<int> targets, ArrayView<float> lse, ArrayView<float> dnll, ArrayView<float> dx, int k, int hw)
    {
        int chw = k * hw, i = index / chw, r = index - i * chw, ch = r / hw, p = r - ch * hw, q = i * hw + p;
        float g = XMath.Exp(x[index] - lse[q]);
        if (targets[q] == ch) g -= 1f;
        dx[index] += dnll[q] * g;
    }

    /// <summary>
    /// One thread per element (b, s, t) of [batch, n, n]: each recomputes its row's max and Σexp over the
    /// allowed keys (n is small in attention, and batch·n² threads keep a GPU busy where batch·n would not).
    /// All threads of a row reduce in the same order, so the row sums to 1 consistently.
    /// </summary>
    public static void MaskedSoftmaxRows(Index1D index, ArrayView<float> x, ArrayView<float> y, int n, float scale, int strict)
    {
        int row = index / n, t = index - row * n, s = row % n, len = strict != 0 ? s : s + 1;
        if (t >= len)
        {
            y[index] = 0f;
            return;
        }
        int o = row * n;
        float m = scale * x[o];
        for (int u = 1; u < len; u++) m = XMath.Max(m, scale * x[o + u]);
        float sum = 0f;
        for (int u = 0; u < len; u++) sum += XMath.Exp(scale * x[o + u] - m);
        y[index] = XMath.Exp(scale * x[index] - m) / sum;
    }

    /// <summary>
    /// <see cref="MaskedSoftmaxRows"/> with one warp per row (rows are contiguous): each lane takes keys lane, lane + W, …;
    /// the row max and Σexp are combined across the warp with <see cref="Warp.ShuffleXor"/> butterflies, so a row costs
    /// O(n) instead of the per-element kernel's O(n²). Grid: ceil(rows / warps per group) groups.
    /// </summary>
    [GroupedKernel]
    public static void MaskedSoftmaxRowsWarp(ArrayView<float> x, ArrayView<float> y, int rows, int n, float scale, int strict)
    {
        int ws = Warp.WarpSize, lane = Warp.LaneIdx, row = Grid.IdxX * (Group.DimX / ws) + Group.IdxX / ws;
        if (row >= rows) return; // a whole warp leaves together: the group holds whole warps
        int s = row % n, len = strict != 0 ? s : s + 1, o = row * n;
        float m = float.NegativeInfinity;
        for (int t = lane; t < len; t += ws) m = XMath.Max(m, scale * x[o + t]);
        m = WarpMax(m);
        float sum = 0f;
        for (int t = lane; t < len; t += ws) sum += XMath.Exp(scale * x[o + t] - m);
        float inv = 1f / WarpSum(sum);
        for (int t = lane; t < n; t += ws) y[o + t] = t < len ? XMath.Exp(scale * x[o + t] - m) * inv : 0f;
    }

    /// <summary><see cref="MaskedSoftmaxRowsBackward"/> with one warp per row: Σ P·dP by a warp butterfly, then every allowed element.</summary>
    [GroupedKernel]
    public static void MaskedSoftmaxRowsBackwardWarp(ArrayView<float> p, ArrayView<float> dp, ArrayView<float> dx, int rows, int n, float scale, int strict)
    {
        int ws = Warp.WarpSize, lane = Warp.LaneIdx, row = Grid.IdxX * (Group.DimX / ws) + Group.IdxX / ws;
        if (row >= rows) return;
        int s = row % n, len = strict != 0 ? s : s + 1, o = row * n;
        float d = 0f;
        for (int t = lane; t < len; t += ws) d += p[o + t] * dp[o + t];
        d = WarpSum(d);
        for (int t = lane; t < len; t += ws) dx[o + t] += scale * p[o + t] * (dp[o + t] - d);
    }

    /// <summary>Every lane gets the warp's sum (XOR butterfly: the same additions in the same order on every lane).</summary>
    private static float WarpSum(float v)
    {
        for (int delta = Warp.WarpSize / 2; delta > 0; delta /= 2) v += Warp.ShuffleXor(v, delta);
        return v;
    }

    private static float WarpMax(float v)
    {
        for (int delta = Warp.WarpSize / 2; delta > 0; delta /= 2) v = XMath.Max(v, Warp.ShuffleXor(v, delta));
        return v;
    }

    /// <summary>One thread per element: dx += scale·P(dP − Σ_u P·dP) over the allowed keys; masked entries untouched.</summary>
    public static void MaskedSoftmaxRowsBackward(Index1D index, ArrayView<float> p, ArrayView<float> dp, ArrayView<float> dx, int n, float scale, int strict)
    {
        int row = index / n, t = index - row * n, s = row % n, len = strict != 0 ? s : s + 1;
        if (t >= len) return;
        int o = row * n;
        float d = 0f;
        for (int u = 0; u < len; u++) d += p[o + u] * dp[o + u];
        dx[index] += scale * p[index] * (dp[index] - d);
    }
}

public sealed partial class IlgpuBackend
{
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>? _softmaxChannels;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _softmaxChannelsBackward;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>? _crossEntropy;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _crossEntropyBackward;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, float, int>? _maskedSoftmax;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>? _maskedSoftmaxBackward;

    protected override void SoftmaxChannelsCore(Tensor x, Tensor y, int n, int c, int hw, bool log)
    {
        if (n * c * hw == 0) return;
        if (UseTiledGemm) { SoftmaxChannelsWarp(x, y, n, c, hw, log, ChannelLanes); return; }
        _softmaxChannels ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(SoftmaxKernels.SoftmaxChannels);
        _softmaxChannels(n * hw, F(x), F(y), c, hw, log ? 1 : 0);
    }

    protected override void SoftmaxChannelsBackwardCore(Tensor y, Tensor dy, Tensor dx, int n, int c, int hw, bool log)
    {
        if (n * c * hw == 0) return;
        if (UseTiledGemm) { SoftmaxChannelsBackwardWarp(y, dy, dx, n, c, hw, log, ChannelLanes); return; }
        _softmaxChannelsBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(SoftmaxKernels.SoftmaxChannelsBackward);
        _softmaxChannelsBackward(n * hw, F(y), F(dy), F(dx), c, hw, log ? 1 : 0);
    }

    protected override void CrossEntropyCore(Tensor logits, Tensor targets, Tensor nll, Tensor lse, int n, int k, int hw)
    {
        if (n * k * hw == 0) return;
        if (UseTiledGemm) { CrossEntropyWarp(logits, targets, nll, lse, n, k, hw, ChannelLanes); return; }
        _crossEntropy ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>(SoftmaxKernels.CrossEntropy);
        _crossEntropy(n * hw, F(logits), I(targets), F(nll), F(lse), k, hw);
    }

    protected override void CrossEntropyBackwardCore(Tensor logits, Tensor targets, Tensor lse, Tensor dnll, Tensor dlogits, int n, int k, int hw)
    {
        if (n * k * hw == 0) return;
        _crossEntropyBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(SoftmaxKernels.CrossEntropyBackward);
        _crossEntropyBackward(n * k * hw, F(logits), I(targets), F(lse), F(dnll), F(dlogits), k, hw);
    }

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, float, int>? _maskedSoftmaxWarp;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, int>? _maskedSoftmaxBackwardWarp;

    /// <summary>Groups of whole warps for the one-warp-per-row kernels: 4 warps (or what the device's group holds).</summary>
    private KernelConfig WarpRows(int rows)
    {
        int ws = Accelerator.WarpSize, warps = Math.Max(1, Math.Min(4, Accelerator.MaxNumThreadsPerGroup / ws));
        return new KernelConfig(new Index1D((rows + warps - 1) / warps), new Index1D(warps * ws));
    }

    /// <summary>The one-warp-per-row masked softmax (what cuda runs; the simulator runs it when UseTiledGemm is set).</summary>
    internal void MaskedSoftmaxRowsWarp(Tensor scores, Tensor probs, int batch, int n, float scale, bool strict)
    {
        if (batch * n == 0) return;
        _maskedSoftmaxWarp ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, float, int>(SoftmaxKernels.MaskedSoftmaxRowsWarp);
        _maskedSoftmaxWarp(WarpRows(batch * n), F(scores), F(probs), batch * n, n, scale, strict ? 1 : 0);
    }

    internal void MaskedSoftmaxRowsBackwardWarp(Tensor probs, Tensor dprobs, Tensor dscores, int batch, int n, float scale, bool strict)
    {
        if (batch * n == 0) return;
        _maskedSoftmaxBackwardWarp ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float, int>(SoftmaxKernels.MaskedSoftmaxRowsBackwardWarp);
        _maskedSoftmaxBackwardWarp(WarpRows(batch * n), F(probs), F(dprobs), F(dscores), batch * n, n, scale, strict ? 1 : 0);
    }

    protected override void MaskedSoftmaxRowsCore(Tensor scores, Tensor probs, int batch, int n, float scale, bool strict)
    {
        if (batch * n == 0) return;
        if (UseTiledGemm) { MaskedSoftmaxRowsWarp(scores, probs, batch, n, scale, strict); return; }
        _maskedSoftmax ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, float, int>(SoftmaxKernels.MaskedSoftmaxRows);
        _maskedSoftmax(batch * n * n, F(scores), F(probs), n, scale, strict ? 1 : 0);
    }

    protected override void MaskedSoftmaxRowsBackwardCore(Tensor probs, Tensor dprobs, Tensor dscores, int batch, int n, float scale, bool strict)
    {
        if (batch * n == 0) return;
        if (UseTiledGemm) { MaskedSoftmaxRowsBackwardWarp(probs, dprobs, dscores, batch, n, scale, strict); return; }
        _maskedSoftmaxBackward ??= Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int>(SoftmaxKernels.MaskedSoftmaxRowsBackward);
        _maskedSoftmaxBackward(batch * n * n, F(probs), F(dprobs), F(dscores), n, scale, strict ? 1 : 0);
    }
}
