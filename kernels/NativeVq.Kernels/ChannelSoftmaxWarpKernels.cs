using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>
/// The channel-axis softmax, log-softmax and cross-entropy (PixelSNAIL's loss over K code logits, x [n, K, hw]) with
/// several lanes per position, reduced by warp shuffles. The one-thread-per-position kernels of
/// <see cref="SoftmaxKernels"/> give a GPU only n·hw threads, each walking all K channels serially (PixelSNAIL at batch
/// 128 on 8×8: 8192 threads, about 60 per SM, with K dependent exp/loads each). Here a warp covers P = WarpSize/L
/// consecutive positions with L lanes each (lane = l·P + position): each lane folds channels l, l + L, … into an
/// online (max, Σexp) pair, and the L pairs of a position are combined by an XOR butterfly over the lane bits above P
/// (every lane ends with the same pair). A warp's load touches L runs of P consecutive floats (at L = 4, P = 8: four
/// full 32-byte sectors), so reads stay sector-efficient while L× more threads run. One pass for the statistics, one to
/// write. Positions past the end still join the shuffles (no lane leaves early). CPU twin:
/// src/NativeVq.Runtime/Cpu/Softmax.cs (CpuSoftmax). Tests: ChannelSoftmaxWarpParityTests; bench: bench/gpu_check.sh
/// (parity `softmax`, `pixelsnail_loss_grads`; the pixelsnail_train stage).
/// </summary>
public static class ChannelSoftmaxWarpKernels
{
    /// <summary>nll[q] and lse[q] of position q (as <see cref="SoftmaxKernels.CrossEntropy"/>); a target outside [0, k) gives NaN.</summary>
    [GroupedKernel]
    public static void CrossEntropy(ArrayView<float> x, ArrayView<int> targets, ArrayView<float> nll, ArrayView<float> lse, int total, int k, int hw, int lanes)
    {
        var at = new At(total, k, hw, lanes);
        float m = float.NegativeInfinity, s = 0f;
        if (at.Ok) for (int ch = at.Lane; ch < k; ch += lanes) Fold(ref m, ref s, x[at.O + ch * hw]);
        Combine(ref m, ref s, at.P);
        if (!at.Ok || at.Lane != 0) return;
        float ls = XMath.Log(s);
        lse[at.Q] = m + ls;
        int t = targets[at.Q];
        nll[at.Q] = t >= 0 && t < k ? (m - x[at.O + t * hw]) + ls : float.NaN;
    }

    /// <summary>y = softmax (or log-softmax when log is 1) of x over the channel axis.</summary>
    [GroupedKernel]
    public static void Softmax(ArrayView<float> x, ArrayView<float> y, int total, int c, int hw, int log, int lanes)
    {
        var at = new At(total, c, hw, lanes);
        float m = float.NegativeInfinity, s = 0f;
        if (at.Ok) for (int ch = at.Lane; ch < c; ch += lanes) Fold(ref m, ref s, x[at.O + ch * hw]);
        Combine(ref m, ref s, at.P);
        if (!at.Ok) return;
        float ls = XMath.Log(s), inv = 1f / s;
        for (int ch = at.Lane; ch < c; ch += lanes)
        {
            int j = at.O + ch * hw;
            y[j] = log != 0 ? (x[j] - m) - ls : XMath.Exp(x[j] - m) * inv;
        }
    }

    /// <summary>dx += y(dy − Σ y·dy), or dy − exp(y)·Σ dy for log-softmax (y the forward's output).</summary>
    [GroupedKernel]
    public static void SoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int total, int c, int hw, int log, int lanes)
    {
        var at = new At(total, c, hw, lanes);
        float d = 0f;
        if (at.Ok) for (int ch = at.Lane; ch < c; ch += lanes) { int j = at.O + ch * hw; d += log != 0 ? dy[j] : y[j] * dy[j]; }
        for (int delta = at.P; delta < Warp.WarpSize; delta *= 2) d += Warp.ShuffleXor(d, delta);
        if (!at.Ok) return;
        for (int ch = at.Lane; ch < c; ch += lanes)
        {
            int j = at.O + ch * hw;
            dx[j] += log != 0 ? dy[j] - XMath.Exp(y[j]) * d : y[j] * (dy[j] - d);
        }
    }

    /// <summary>This thread's position q (Ok when q &lt; total), its channel lane and the offset of channel 0 of q.</summary>
    private readonly struct At
    {
        public readonly int P, Q, Lane, O;
        public readonly bool Ok;

        public At(int total, int c, int hw, int lanes)
        {
            int ws = Warp.WarpSize, lane = Warp.LaneIdx;
            P = ws / lanes;
            int warp = Grid.IdxX * (Group.DimX / ws) + Group.IdxX / ws;
            Q = warp * P + lane % P;
            Lane = lane / P;
            Ok = Q < total;
            int i = Ok ? Q / hw : 0, p = Ok ? Q - i * hw : 0;
            O = i * c * hw + p;
        }
    }

    /// <summary>Online (max, Σexp): the sum is rescaled by exp(m_old − m_new) when the max grows.</summary>
    private static void Fold(ref float m, ref float s, float v)
    {
        if (v > m) { s = s * XMath.Exp(m - v) + 1f; m = v; }
        else s += XMath.Exp(v - m);
    }

    /// <summary>Combines the (max, Σexp) pairs of the lanes that share a position (lane bits P, 2P, …): every such lane ends with the same pair.</summary>
    private static void Combine(ref float m, ref float s, int p)
    {
        for (int delta = p; delta < Warp.WarpSize; delta *= 2)
        {
            float om = Warp.ShuffleXor(m, delta), os = Warp.ShuffleXor(s, delta);
            float mm = XMath.Max(m, om);
            // A lane that saw no channel holds (−∞, 0): its term is 0 (and −∞ − −∞ must not make a NaN).
            s = (m == float.NegativeInfinity ? 0f : s * XMath.Exp(m - mm)) + (om == float.NegativeInfinity ? 0f : os * XMath.Exp(om - mm));
            m = mm;
        }
    }
}

public sealed partial class IlgpuBackend
{
    private Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int, int>? _crossEntropyWarp;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int, int, int>? _softmaxChannelsWarp;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>? _softmaxChannelsBackwardWarp;

    /// <summary>Lanes per position of the channel kernels: 4 (8 positions per 32-lane warp), at most the warp.</summary>
    internal int ChannelLanes => Math.Min(4, Accelerator.WarpSize);

    /// <summary>Groups of whole warps covering <paramref name="total"/> positions at P = WarpSize/lanes positions per warp.</summary>
    private KernelConfig ChannelWarps(int total, int lanes)
    {
        int ws = Accelerator.WarpSize, p = ws / lanes, warps = Math.Max(1, Math.Min(4, Accelerator.MaxNumThreadsPerGroup / ws));
        int warpsNeeded = (total + p - 1) / p;
        return new KernelConfig(new Index1D((warpsNeeded + warps - 1) / warps), new Index1D(warps * ws));
    }

    private void CheckLanes(int lanes)
    {
        int ws = Accelerator.WarpSize;
        if (lanes < 1 || lanes > ws || ws % lanes != 0 || (lanes & (lanes - 1)) != 0) throw new ArgumentException($"channel lanes {lanes} must be a power of two dividing the warp size {ws}");
    }

    internal void CrossEntropyWarp(Tensor logits, Tensor targets, Tensor nll, Tensor lse, int n, int k, int hw, int lanes)
    {
        CheckLanes(lanes);
        if (n * k * hw == 0) return;
        _crossEntropyWarp ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int, int, int>(ChannelSoftmaxWarpKernels.CrossEntropy);
        _crossEntropyWarp(ChannelWarps(n * hw, lanes), F(logits), I(targets), F(nll), F(lse), n * hw, k, hw, lanes);
    }

    internal void SoftmaxChannelsWarp(Tensor x, Tensor y, int n, int c, int hw, bool log, int lanes)
    {
        CheckLanes(lanes);
        if (n * c * hw == 0) return;
        _softmaxChannelsWarp ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, int, int, int, int, int>(ChannelSoftmaxWarpKernels.Softmax);
        _softmaxChannelsWarp(ChannelWarps(n * hw, lanes), F(x), F(y), n * hw, c, hw, log ? 1 : 0, lanes);
    }

    internal void SoftmaxChannelsBackwardWarp(Tensor y, Tensor dy, Tensor dx, int n, int c, int hw, bool log, int lanes)
    {
        CheckLanes(lanes);
        if (n * c * hw == 0) return;
        _softmaxChannelsBackwardWarp ??= Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int, int>(ChannelSoftmaxWarpKernels.SoftmaxBackward);
        _softmaxChannelsBackwardWarp(ChannelWarps(n * hw, lanes), F(y), F(dy), F(dx), n * hw, c, hw, log ? 1 : 0, lanes);
    }
}
