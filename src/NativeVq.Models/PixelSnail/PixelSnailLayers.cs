using NativeVq.Nn;

namespace NativeVq.Models;

/// <summary>
/// The peer's <c>PadConv</c>: a conv with F.pad-style asymmetric zero padding (left, right, top, bottom), fused
/// into the conv, and an optional kernel mask multiplied into the weight in the graph. State-dict names as in
/// PyTorch: <c>conv.weight</c>, <c>conv.bias</c> and, when masked, the buffer <c>mask</c> [1,1,kH,kW].
/// </summary>
public sealed class MaskedConv : Module
{
    private readonly (int Left, int Right, int Top, int Bottom) _pad;

    public MaskedConv(Backend backend, Rng rng, int inChannels, int outChannels, int kernelH, int kernelW,
        (int Left, int Right, int Top, int Bottom) pad, float[]? mask = null)
    {
        _pad = pad;
        if (mask is not null)
            Mask = RegisterBuffer("mask", TensorScope.Unscoped(() => Tensor.FromArray(backend, mask, 1, 1, kernelH, kernelW)));
        Conv = RegisterModule("conv", new Conv2d(backend, rng, inChannels, outChannels, kernelH, kernelW, 1, 0, bias: true));
    }

    public Conv2d Conv { get; }
    public Tensor? Mask { get; }

    public Tensor Forward(Tensor x) => Mask is null
        ? F.Conv2d(x, Conv.Weight, Conv.Bias, 1, _pad)
        : F.MaskedConv2d(x, Conv.Weight, Mask, Conv.Bias, 1, _pad);

    /// <summary>
    /// The causal k×k conv of the res blocks (peer <c>masked_conv3</c> for k = 3): kernel rows i−(k−1)..i (top
    /// pad k−1), columns j−k/2..j+k/2, and on the current (last) kernel row every tap right of the centre is
    /// masked. Rows above may read j+1..: the stream they read is already strictly causal (shifted stem).
    /// </summary>
    public static MaskedConv Causal(Backend backend, Rng rng, int inChannels, int outChannels, int k)
    {
        var mask = new float[k * k];
        Array.Fill(mask, 1f);
        for (int c = k / 2 + 1; c < k; c++) mask[(k - 1) * k + c] = 0f;
        return new MaskedConv(backend, rng, inChannels, outChannels, k, k, (k / 2, k / 2, k - 1, 0), mask);
    }
}

/// <summary>
/// Gated residual block (peer <c>GatedRes</c>): y = c2(dropout(ELU(c1(ELU(x))))), plus aux(ELU(a)) when an
/// auxiliary input is given; returns x + y[:C]·sigmoid(y[C:]). c1/c2 are causal masked k×k convs
/// (names <c>c1.conv.weight</c>, <c>c1.mask</c>) or plain 1×1 convs (<c>c1.weight</c>).
/// </summary>
public sealed class GatedResBlock : Module
{
    private readonly Func<Tensor, Tensor> _c1, _c2;
    private readonly Conv2d? _aux;
    private readonly float _dropout;
    private readonly Func<ulong> _nextSeed;

    /// <param name="maskedKernel">0 for 1×1 convs, else the odd size of the causal masked convs.</param>
    /// <param name="nextSeed">Dropout seed source (the owning model's counter), so runs are reproducible.</param>
    public GatedResBlock(Backend b, Rng rng, int inChannels, int channels, int maskedKernel = 0, int auxChannels = 0,
        float dropout = 0f, Func<ulong>? nextSeed = null)
    {
        if (maskedKernel > 0)
        {
            _c1 = RegisterModule("c1", MaskedConv.Causal(b, rng, inChannels, channels, maskedKernel)).Forward;
            _c2 = RegisterModule("c2", MaskedConv.Causal(b, rng, channels, 2 * inChannels, maskedKernel)).Forward;
        }
        else
        {
            _c1 = RegisterModule("c1", new Conv2d(b, rng, inChannels, channels, 1)).Forward;
            _c2 = RegisterModule("c2", new Conv2d(b, rng, channels, 2 * inChannels, 1)).Forward;
        }
        if (auxChannels > 0) _aux = RegisterModule("aux", new Conv2d(b, rng, auxChannels, 2 * inChannels, 1));
        _dropout = dropout;
        _nextSeed = nextSeed ?? (() => 0UL);
    }

    public Tensor Forward(Tensor x, Tensor? aux = null)
    {
        var hidden = F.Elu(_c1(F.Elu(x)));
        if (_dropout > 0f && Training) hidden = F.Dropout(hidden, _dropout, _nextSeed());
        var y = _c2(hidden);
        if (_aux is not null)
        {
            if (aux is null) throw new ArgumentException("gated_res: this block was built with an auxiliary input and needs one");
            y = F.Add(y, _aux.Forward(F.Elu(aux)));
        }
        return F.Add(x, F.Glu(y));
    }
}

/// <summary>
/// Peer <c>CausalAttention</c>: Linear q (from the query features), k and v (from the key features), applied at
/// every position, masked softmax over raster positions t ≤ s (t &lt; s when strict), no output projection.
/// </summary>
public sealed class CausalAttentionBlock : Module
{
    private readonly int _heads;
    private readonly bool _strict;

    public CausalAttentionBlock(Backend b, Rng rng, int queryChannels, int keyChannels, int keyDim, int valueDim, int heads = 1, bool strict = false)
    {
        Q = RegisterModule("q", new Linear(b, rng, queryChannels, keyDim));
        K = RegisterModule("k", new Linear(b, rng, keyChannels, keyDim));
        V = RegisterModule("v", new Linear(b, rng, keyChannels, valueDim));
        _heads = heads;
        _strict = strict;
    }

    public Linear Q { get; }
    public Linear K { get; }
    public Linear V { get; }

    /// <summary>query [B, Cq, H, W], key [B, Ck, H, W] → [B, dv, H, W].</summary>
    public Tensor Forward(Tensor query, Tensor key) =>
        F.CausalAttention(query, key, Q.Weight, Q.Bias, K.Weight, K.Bias, V.Weight, V.Bias, _heads, _strict);
}

/// <summary>
/// One PixelSNAIL stage (peer <c>Stage</c>): masked gated res blocks, then (with attention) key =
/// GatedRes1x1(cat(inp, out, bg)), query = GatedRes1x1(cat(out, bg)), a = attention(query, key) and
/// GatedRes1x1(out, aux = a).
/// </summary>
public sealed class PixelSnailStage : Module
{
    private readonly List<GatedResBlock> _res = new();
    private readonly GatedResBlock? _keyRes, _queryRes, _outRes;
    private readonly CausalAttentionBlock? _attn;

    public PixelSnailStage(Backend b, Rng rng, PixelSnailConfig cfg, Func<ulong> nextSeed)
    {
        int ch = cfg.Channels;
        var res = RegisterModule("res", new ModuleList());
        for (int i = 0; i < cfg.ResBlocks; i++)
            _res.Add(res.Add(new GatedResBlock(b, rng, ch, ch, cfg.KernelSize, 0, cfg.Dropout, nextSeed)));
        if (!cfg.Attention) return;
        _keyRes = RegisterModule("key_res", new GatedResBlock(b, rng, 2 * ch + 2, ch, 0, 0, cfg.Dropout, nextSeed));
        _queryRes = RegisterModule("query_res", new GatedResBlock(b, rng, ch + 2, ch, 0, 0, cfg.Dropout, nextSeed));
        _attn = RegisterModule("attn", new CausalAttentionBlock(b, rng, ch + 2, 2 * ch + 2, cfg.KeyDim, cfg.ValueDim, cfg.Heads, cfg.StrictAttention));
        _outRes = RegisterModule("out_res", new GatedResBlock(b, rng, ch, ch, 0, cfg.ValueDim, cfg.Dropout, nextSeed));
    }

    /// <summary>inp [B, C, H, W], bg [B, 2, H, W] → [B, C, H, W].</summary>
    public Tensor Forward(Tensor inp, Tensor bg)
    {
        var output = inp;
        foreach (var r in _res) output = r.Forward(output);
        if (_attn is null) return output;
        var key = _keyRes!.Forward(F.Concat(inp, output, bg));
        var query = _queryRes!.Forward(F.Concat(output, bg));
        var a = _attn.Forward(query, key);
        return _outRes!.Forward(output, a);
    }
}

/// <summary>nn.ModuleList: children named 0, 1, 2, ….</summary>
public sealed class ModuleList : Module
{
    private int _next;
    public T Add<T>(T m) where T : Module => RegisterModule((_next++).ToString(System.Globalization.CultureInfo.InvariantCulture), m);
}
