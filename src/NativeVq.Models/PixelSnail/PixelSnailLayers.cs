using NativeVq.Cpu;
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

    /// <summary>This layer's per-position form: the same weight, bias, mask and padding (see <see cref="PositionConv"/>).</summary>
    internal PositionConv AtPositions() => PositionConv.From(Conv.Weight, Conv.Bias, Mask, _pad.Top, _pad.Left);

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
    private readonly Func<PositionConv> _c1At, _c2At;
    private readonly Conv2d? _aux;
    private readonly int _kernel;
    private PositionConv _p1 = null!, _p2 = null!;
    private PositionConv? _pAux;
    private readonly float _dropout;
    private readonly Func<ulong> _nextSeed;

    /// <param name="maskedKernel">0 for 1×1 convs, else the odd size of the causal masked convs.</param>
    /// <param name="nextSeed">Dropout seed source (the owning model's counter), so runs are reproducible.</param>
    public GatedResBlock(Backend b, Rng rng, int inChannels, int channels, int maskedKernel = 0, int auxChannels = 0,
        float dropout = 0f, Func<ulong>? nextSeed = null)
    {
        _kernel = maskedKernel;
        if (maskedKernel > 0)
        {
            var c1 = RegisterModule("c1", MaskedConv.Causal(b, rng, inChannels, channels, maskedKernel));
            var c2 = RegisterModule("c2", MaskedConv.Causal(b, rng, channels, 2 * inChannels, maskedKernel));
            (_c1, _c2, _c1At, _c2At) = (c1.Forward, c2.Forward, c1.AtPositions, c2.AtPositions);
        }
        else
        {
            var c1 = RegisterModule("c1", new Conv2d(b, rng, inChannels, channels, 1));
            var c2 = RegisterModule("c2", new Conv2d(b, rng, channels, 2 * inChannels, 1));
            (_c1, _c2) = (c1.Forward, c2.Forward);
            (_c1At, _c2At) = (() => PositionConv.From(c1.Weight, c1.Bias, null, 0, 0), () => PositionConv.From(c2.Weight, c2.Bias, null, 0, 0));
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

    /// <summary>Rebuilds the per-position weights from this block's current tensors (see <see cref="PixelSnail.PreparePositions"/>).</summary>
    internal void PreparePositions()
    {
        _p1 = _c1At();
        _p2 = _c2At();
        _pAux = _aux is null ? null : PositionConv.From(_aux.Weight, _aux.Bias, null, 0, 0);
    }

    /// <summary>
    /// Rows of the conv-input caches a masked block keeps per lane (its k×k convs read rows i−k+1..i), 0 for 1×1 blocks.
    /// </summary>
    internal int CacheRows => _kernel;

    /// <summary>
    /// <see cref="Forward"/> at position s.Q for the active rows of x [row, s.Wide] (first ch channels, in place),
    /// eval mode (no dropout). A masked block reads its conv inputs at earlier positions from <paramref name="cache"/>
    /// ([lane, CacheRows·W ring of rows, 2 convs, ch]) and stores this position's; aux [row, s.Wide] is the auxiliary input.
    /// </summary>
    internal void ForwardAt(PositionStep s, PositionCache? cache, float[] x, int ch, float[]? aux = null)
    {
        if (_kernel > 0)
        {
            var e1 = cache!.Conv1;
            var e2 = cache.Conv2;
            for (int r = 0; r < s.M; r++) CpuElementwise.Unary(UnaryOp.Elu, x.AsSpan(r * s.Wide, ch), e1.AsSpan(cache.At(s, s.Rows[r], s.I, s.J), ch));
            cache.ConvAt(s, _p1, e1, s.Hid);
            for (int r = 0; r < s.M; r++) CpuElementwise.Unary(UnaryOp.Elu, s.Hid.AsSpan(r * s.Wide, _p1.O), e2.AsSpan(cache.At(s, s.Rows[r], s.I, s.J), _p1.O));
            cache.ConvAt(s, _p2, e2, s.Y);
        }
        else
        {
            s.EluRows(x, ch);
            _p1.Apply(s.Ident.AsSpan(0, ch), s.Cols, ch, s.M, s.Hid, s.Wide, s.Pack);
            s.EluRows(s.Hid, _p1.O);
            _p2.Apply(s.Ident.AsSpan(0, _p1.O), s.Cols, _p1.O, s.M, s.Y, s.Wide, s.Pack);
        }
        if (_pAux is not null)
        {
            s.EluRows(aux!, _pAux.Cin);
            _pAux.Apply(s.Ident.AsSpan(0, _pAux.Cin), s.Cols, _pAux.Cin, s.M, s.Y2, s.Wide, s.Pack);
            for (int r = 0; r < s.M; r++)
            {
                var y = s.Y.AsSpan(r * s.Wide, _p2.O);
                var ya = s.Y2.AsSpan(r * s.Wide, _p2.O);
                for (int t = 0; t < y.Length; t++) y[t] = y[t] + ya[t];
            }
        }
        s.GluAdd(x, s.Y, ch);
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

    private PositionConv _pq = null!, _pk = null!, _pv = null!;

    internal int KeyDim => Q.Weight.Dim(0);
    internal int ValueDim => V.Weight.Dim(0);

    /// <summary>Rebuilds the per-position weights from this block's current tensors.</summary>
    internal void PreparePositions()
    {
        _pq = PositionConv.From(Q.Weight, Q.Bias, null, 0, 0);
        _pk = PositionConv.From(K.Weight, K.Bias, null, 0, 0);
        _pv = PositionConv.From(V.Weight, V.Bias, null, 0, 0);
    }

    /// <summary>The k and v projections of the key features key [row, s.Wide] at position s.Q, into the cache.</summary>
    internal void CacheKeyAt(PositionStep s, AttentionCache cache, float[] key)
    {
        s.Apply1x1(_pk, key, s.Y);
        s.Apply1x1(_pv, key, s.Y2);
        for (int r = 0; r < s.M; r++) cache.Store(s.Rows[r], s.Q, s.Y.AsSpan(r * s.Wide, _pk.O), s.Y2.AsSpan(r * s.Wide, _pv.O));
    }

    /// <summary><see cref="Forward"/> at position s.Q for the active rows: query [row, s.Wide] → outs [row, s.Wide] (dv channels).</summary>
    internal void ForwardAt(PositionStep s, AttentionCache cache, float[] query, float[] outs)
    {
        s.Apply1x1(_pq, query, s.Qv);
        int len = _strict ? s.Q : s.Q + 1;
        for (int r = 0; r < s.M; r++)
            cache.Attend(s.Rows[r], len, _heads, s.Qv.AsSpan(r * s.Wide, _pq.O), outs.AsSpan(r * s.Wide, _pv.O), s.Row);
    }
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

    internal void PreparePositions()
    {
        foreach (var r in _res) r.PreparePositions();
        _keyRes?.PreparePositions();
        _queryRes?.PreparePositions();
        _outRes?.PreparePositions();
        _attn?.PreparePositions();
    }

    /// <summary>The per-lane caches <see cref="ForwardAt"/> needs: one ring per masked res block, the attention keys/values.</summary>
    internal (PositionCache[] Res, AttentionCache? Attention) NewCaches(int lanes, int h, int w, int channels) =>
        (_res.Select(r => new PositionCache(lanes, r.CacheRows, w, channels)).ToArray(),
         _attn is null ? null : new AttentionCache(lanes, h * w, _attn.KeyDim, _attn.ValueDim));

    /// <summary>
    /// <see cref="Forward"/> at position s.Q for the active rows of s.Cur [row, s.Wide] (C channels, in place), with
    /// the background s.Bg0/s.Bg1 at q, reading earlier positions from the caches of <see cref="NewCaches"/>.
    /// With <paramref name="output"/> false only what later positions read is computed (the res blocks' rings, the
    /// attention keys/values): the query, attention read-out and output res block are skipped and s.Cur is left
    /// undefined.
    /// </summary>
    internal void ForwardAt(PositionStep s, (PositionCache[] Res, AttentionCache? Attention) caches, int c, bool output = true)
    {
        for (int r = 0; r < s.M; r++) s.Cur.AsSpan(r * s.Wide, c).CopyTo(s.Inp.AsSpan(r * s.Wide, c));
        for (int i = 0; i < _res.Count; i++) _res[i].ForwardAt(s, caches.Res[i], s.Cur, c);
        if (_attn is null) return;
        int ck = 2 * c + 2, cq = c + 2;
        for (int r = 0; r < s.M; r++)
        {
            var cat = s.Cat.AsSpan(r * s.Wide, ck);
            s.Inp.AsSpan(r * s.Wide, c).CopyTo(cat);
            s.Cur.AsSpan(r * s.Wide, c).CopyTo(cat[c..]);
            cat[2 * c] = s.Bg0;
            cat[2 * c + 1] = s.Bg1;
        }
        _keyRes!.ForwardAt(s, null, s.Cat, ck);   // s.Cat becomes the key
        _attn.CacheKeyAt(s, caches.Attention!, s.Cat);
        if (!output) return;
        for (int r = 0; r < s.M; r++)
        {
            var cat = s.Cat.AsSpan(r * s.Wide, cq);
            s.Cur.AsSpan(r * s.Wide, c).CopyTo(cat);
            cat[c] = s.Bg0;
            cat[c + 1] = s.Bg1;
        }
        _queryRes!.ForwardAt(s, null, s.Cat, cq);   // s.Cat becomes the query
        _attn.ForwardAt(s, caches.Attention!, s.Cat, s.Att);
        _outRes!.ForwardAt(s, null, s.Cur, c, s.Att);
    }
}

/// <summary>nn.ModuleList: children named 0, 1, 2, ….</summary>
public sealed class ModuleList : Module
{
    private int _next;
    public T Add<T>(T m) where T : Module => RegisterModule((_next++).ToString(System.Globalization.CultureInfo.InvariantCulture), m);
}
