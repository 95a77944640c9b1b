using NativeVq.Nn;

namespace NativeVq.Models;

/// <summary>Residual block: x + conv1x1(ReLU(conv3x3(ReLU(x)))).</summary>
public sealed class ResBlock : Module
{
    private readonly Conv2d _c1, _c2;

    public ResBlock(Backend b, Rng rng, int channels, int hidden)
    {
        _c1 = RegisterModule("c1", new Conv2d(b, rng, channels, hidden, 3, padding: 1));
        _c2 = RegisterModule("c2", new Conv2d(b, rng, hidden, channels, 1));
    }

    public Tensor Forward(Tensor x) => F.Add(x, _c2.Forward(F.Relu(_c1.Forward(F.Relu(x)))));
}

/// <summary>
/// Codebook K×D with nearest-code lookup and straight-through gradients (design.md §1.1). Two ways to learn
/// the codebook: by gradient (the codebook loss, trained by Adam with the rest) or, with <c>ema</c>, by
/// exponential moving averages of the encodings assigned to each code (decay γ, Laplace-smoothed counts),
/// which is steadier and uses more codes; the loss then only holds the β-weighted commitment term.
/// </summary>
public sealed class VectorQuantizer : Module
{
    private readonly Holder _embedding;
    private readonly Tensor? _clusterSize, _embedSum;
    private readonly float _decay;
    private const float Eps = 1e-5f;

    public VectorQuantizer(Backend b, Rng rng, int codes, int dim, float beta, bool ema = false, float decay = 0.99f)
    {
        Beta = beta;
        Ema = ema;
        _decay = decay;
        _embedding = RegisterModule("embedding", new Holder());
        var init = Init.Uniform(b, rng, 1f / codes, codes, dim);
        if (!ema) Codebook = _embedding.Param("weight", init);
        else
        {
            Codebook = _embedding.Buffer("weight", init);
            _clusterSize = RegisterBuffer("ema_cluster_size", TensorScope.Unscoped(() => Tensor.Full(b, 1f, codes)));
            _embedSum = RegisterBuffer("ema_embed_sum", TensorScope.Unscoped(() => Tensor.FromArray(b, init.ToArray(), codes, dim)));
        }
    }

    public float Beta { get; }
    public bool Ema { get; }
    public Tensor Codebook { get; }
    public int Codes => Codebook.Dim(0);
    public int Dim => Codebook.Dim(1);

    public VqResult Forward(Tensor zE)
    {
        var q = F.VectorQuantize(zE, Codebook, Beta);
        if (!Ema) return q;
        // EMA: the codebook is not trained by gradient; only the commitment term remains.
        return q with { Loss = F.Scale(F.MseLoss(zE, q.Zq.Detach()), Beta) };
    }

    /// <summary>Codes → z_q [N, D, H, W].</summary>
    public Tensor Lookup(Tensor indices) => F.GatherCodes(Codebook, indices);

    /// <summary>
    /// One EMA update from a training batch: N_k ← γN_k + (1−γ)n_k, m_k ← γm_k + (1−γ)Σ z_e(assigned to k),
    /// e_k = m_k / Ñ_k with Ñ_k = (N_k + ε)/(N + Kε)·N (Laplace smoothing, so an unused code never divides by 0).
    /// One backend op (<see cref="Backend.EmaCodebookUpdate"/>), so nothing is copied to or from the host.
    /// </summary>
    public void UpdateEma(Tensor zE, Tensor indices)
    {
        if (!Ema) throw new InvalidOperationException("UpdateEma on a gradient-trained codebook");
        Codebook.Backend.EmaCodebookUpdate(zE, indices, _clusterSize!, _embedSum!, Codebook, _decay, Eps);
    }

    /// <summary>
    /// Moves every code that <paramref name="usage"/> says went unused onto a random encoder output of this batch
    /// (so dead codes come back into play). Returns how many were restarted.
    /// </summary>
    public int RestartDeadCodes(Tensor zE, Tensor indices, long[] usage, Rng rng)
    {
        var (z, idx, hw) = HostLatents(zE, indices);
        int d = Dim, restarted = 0;
        var book = Codebook.ToArray();
        var embed = _embedSum?.ToArray();
        var size = _clusterSize?.ToArray();
        for (int c = 0; c < Codes; c++)
        {
            if (usage[c] > 0) continue;
            int p = rng.NextInt(idx.Length), n = p / hw, pos = p % hw;
            for (int j = 0; j < d; j++)
            {
                book[c * d + j] = z[(n * d + j) * hw + pos];
                if (embed is not null) embed[c * d + j] = book[c * d + j];
            }
            if (size is not null) size[c] = 1f;
            restarted++;
        }
        if (restarted == 0) return 0;
        var be = Codebook.Backend;
        be.Upload(book, Codebook.Memory);
        if (embed is not null) be.Upload(embed, _embedSum!.Memory);
        if (size is not null) be.Upload(size, _clusterSize!.Memory);
        return restarted;
    }

    private static (float[] Z, int[] Idx, int Hw) HostLatents(Tensor zE, Tensor indices)
    {
        var idx = indices.ToIntArray();
        int n = zE.Dim(0);
        return (zE.ToArray(), idx, idx.Length / Math.Max(1, n));
    }

    private sealed class Holder : Module
    {
        public Tensor Param(string name, Tensor t) => RegisterParameter(name, t);
        public Tensor Buffer(string name, Tensor t) => RegisterBuffer(name, t);
    }
}

/// <summary>Output of one VQ-VAE pass.</summary>
public sealed record VqVaeOutput(Tensor Reconstruction, Tensor Indices, Tensor ZE, Tensor ReconLoss, Tensor VqLoss, Tensor Loss);

/// <summary>
/// VQ-VAE (design.md §1.1): encoder (stride-2 4x4 convs, 3x3 conv, residual blocks), 1x1 pre-quantisation conv,
/// vector quantizer, decoder mirroring the encoder with 4x4 stride-2 transposed convs. Parameter names follow
/// the peer's PyTorch state dict (enc.N / dec.N are nn.Sequential indices) so its weights load by name.
/// </summary>
public sealed class VqVae : Module
{
    private readonly List<Func<Tensor, Tensor>> _encoder = new(), _decoder = new();

    public VqVae(Backend backend, VqVaeConfig config, ulong seed)
    {
        config.Validate();
        Config = config;
        Backend = backend;
        var rng = new Rng(seed);
        int ch = config.Channels;

        var enc = RegisterModule("enc", new Sequence());
        int stages = config.Downsample == 8 ? 3 : 2;
        for (int s = 0; s < stages; s++)
        {
            var conv = enc.Add(new Conv2d(backend, rng, s == 0 ? config.ImageChannels : ch, ch, 4, 2, 1));
            _encoder.Add(conv.Forward);
            enc.Skip(); _encoder.Add(F.Relu);
        }
        var c3 = enc.Add(new Conv2d(backend, rng, ch, ch, 3, 1, 1));
        _encoder.Add(c3.Forward);
        for (int r = 0; r < config.ResBlocks; r++) _encoder.Add(enc.Add(new ResBlock(backend, rng, ch, config.ResChannels)).Forward);
        enc.Skip(); _encoder.Add(F.Relu);

        PreQuant = RegisterModule("pre_q", new Conv2d(backend, rng, ch, config.EmbeddingDim, 1));
        Quantizer = RegisterModule("vq", new VectorQuantizer(backend, rng, config.CodebookSize, config.EmbeddingDim, config.Beta, config.Ema, config.EmaDecay));

        var dec = RegisterModule("dec", new Sequence());
        _decoder.Add(dec.Add(new Conv2d(backend, rng, config.EmbeddingDim, ch, 3, 1, 1)).Forward);
        for (int r = 0; r < config.ResBlocks; r++) _decoder.Add(dec.Add(new ResBlock(backend, rng, ch, config.ResChannels)).Forward);
        dec.Skip(); _decoder.Add(F.Relu);
        for (int s = 0; s < stages; s++)
        {
            bool last = s == stages - 1;
            _decoder.Add(dec.Add(new ConvTranspose2d(backend, rng, ch, last ? config.ImageChannels : ch, 4, 2, 1)).Forward);
            if (!last) { dec.Skip(); _decoder.Add(F.Relu); }
        }
    }

    public VqVaeConfig Config { get; }
    public Backend Backend { get; }
    public Conv2d PreQuant { get; }
    public VectorQuantizer Quantizer { get; }

    /// <summary>x [N, C, S, S] in [-1, 1] → z_e [N, D, S/f, S/f].</summary>
    public Tensor Encode(Tensor x) => PreQuant.Forward(Run(_encoder, x));

    public Tensor Decode(Tensor zq) => Run(_decoder, zq);

    /// <summary>Codes [N, h, w] → images (in sub-batches when no graph is being recorded).</summary>
    public Tensor DecodeCodes(Tensor indices) => SubBatches.Map(indices, i => Decode(Quantizer.Lookup(i)));

    /// <summary>Images → codes [N, h, w] (inference, in sub-batches).</summary>
    public Tensor EncodeCodes(Tensor x)
    {
        using var _ = Autograd.NoGrad();
        return SubBatches.Map(x, p => Quantizer.Forward(Encode(p)).Indices);
    }

    public VqVaeOutput Forward(Tensor x)
    {
        var zE = Encode(x);
        var q = Quantizer.Forward(zE);
        var rec = Decode(q.ZqSt);
        var recLoss = Config.ReconLoss == "l1" ? F.L1Loss(rec, x) : F.MseLoss(rec, x);
        return new VqVaeOutput(rec, q.Indices, zE, recLoss, q.Loss, F.Add(recLoss, q.Loss));
    }

    private static Tensor Run(List<Func<Tensor, Tensor>> layers, Tensor x)
    {
        foreach (var f in layers) x = f(x);
        return x;
    }

    /// <summary>Mirrors nn.Sequential numbering: parameter-free layers (ReLU) take an index but register nothing.</summary>
    private sealed class Sequence : Module
    {
        private int _next;
        public T Add<T>(T m) where T : Module => RegisterModule((_next++).ToString(System.Globalization.CultureInfo.InvariantCulture), m);
        public void Skip() => _next++;
    }
}
