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

/// <summary>Codebook K×D with nearest-code lookup and straight-through gradients (design.md §1.1).</summary>
public sealed class VectorQuantizer : Module
{
    private readonly Module _embedding;

    public VectorQuantizer(Backend b, Rng rng, int codes, int dim, float beta)
    {
        Beta = beta;
        _embedding = RegisterModule("embedding", new Holder());
        Codebook = ((Holder)_embedding).Add("weight", Init.Uniform(b, rng, 1f / codes, codes, dim));
    }

    public float Beta { get; }
    public Tensor Codebook { get; }

    public VqResult Forward(Tensor zE) => F.VectorQuantize(zE, Codebook, Beta);

    /// <summary>Codes → z_q [N, D, H, W].</summary>
    public Tensor Lookup(Tensor indices) => F.GatherCodes(Codebook, indices);

    private sealed class Holder : Module
    {
        public Tensor Add(string name, Tensor t) => RegisterParameter(name, t);
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
        Quantizer = RegisterModule("vq", new VectorQuantizer(backend, rng, config.CodebookSize, config.EmbeddingDim, config.Beta));

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

    /// <summary>Codes [N, h, w] → images.</summary>
    public Tensor DecodeCodes(Tensor indices) => Decode(Quantizer.Lookup(indices));

    /// <summary>Images → codes [N, h, w] (inference).</summary>
    public Tensor EncodeCodes(Tensor x)
    {
        using var _ = Autograd.NoGrad();
        return Quantizer.Forward(Encode(x)).Indices;
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
