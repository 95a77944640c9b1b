using NativeVq.Nn;

namespace NativeVq.Models;

/// <summary>
/// DCGAN generator G(z): z [N, Z] → [N, Z, 1, 1] → 4x4 by a 4x4 transposed conv, then stride-2 transposed convs
/// (kernel 4, padding 1) doubling the size and halving the channels, BatchNorm + ReLU after each but the last, tanh out.
/// Convs have no bias (BatchNorm follows; DCGAN's choice).
/// </summary>
public sealed class GanGenerator : Module
{
    private readonly List<(ConvTranspose2d Conv, BatchNorm2d? Bn)> _layers = new();
    private readonly int _latent;

    public GanGenerator(Backend backend, Rng rng, GanConfig c)
    {
        _latent = c.LatentDim;
        int ch = c.TopChannels;
        _layers.Add((RegisterModule("up0", new ConvTranspose2d(backend, rng, c.LatentDim, ch, 4, 1, 0, bias: false)), RegisterModule("bn0", new BatchNorm2d(backend, ch))));
        for (int i = 1; i < c.Stages; i++, ch /= 2)
            _layers.Add((RegisterModule($"up{i}", new ConvTranspose2d(backend, rng, ch, ch / 2, 4, 2, 1, bias: false)), RegisterModule($"bn{i}", new BatchNorm2d(backend, ch / 2))));
        _layers.Add((RegisterModule($"up{c.Stages}", new ConvTranspose2d(backend, rng, ch, c.ImageChannels, 4, 2, 1, bias: false)), null));
    }

    /// <summary>z [N, Z] → images [N, C, S, S] in (−1, 1).</summary>
    public Tensor Forward(Tensor z)
    {
        var x = z.Reshape(z.Dim(0), _latent, 1, 1);
        foreach (var (conv, bn) in _layers)
        {
            x = conv.Forward(x);
            x = bn is null ? F.Tanh(x) : F.Relu(bn.Forward(x));
        }
        return x;
    }
}

/// <summary>
/// The shared trunk of the discriminator and the encoder: stride-2 4x4 convs halving the size and doubling the
/// channels down to 4x4, LeakyReLU after each, BatchNorm on all but the first (DCGAN), then a 4x4 valid conv to
/// a given number of values per image.
/// </summary>
public abstract class GanDownNet : Module
{
    private readonly List<(Conv2d Conv, BatchNorm2d? Bn)> _layers = new();
    private readonly Conv2d _head;
    private readonly float _slope;
    private readonly int _outputs;

    protected GanDownNet(Backend backend, Rng rng, GanConfig c, int outputs)
    {
        _slope = c.LeakySlope;
        _outputs = outputs;
        int ch = c.Width;
        _layers.Add((RegisterModule("down0", new Conv2d(backend, rng, c.ImageChannels, ch, 4, 2, 1, bias: false)), null));
        for (int i = 1; i < c.Stages; i++, ch *= 2)
            _layers.Add((RegisterModule($"down{i}", new Conv2d(backend, rng, ch, ch * 2, 4, 2, 1, bias: false)), RegisterModule($"bn{i}", new BatchNorm2d(backend, ch * 2))));
        _head = RegisterModule("head", new Conv2d(backend, rng, ch, outputs, 4, 1, 0, bias: false));
    }

    /// <summary>The 4x4 activations before the head: [N, TopChannels, 4, 4] (the discriminator's features).</summary>
    public Tensor Features(Tensor x)
    {
        foreach (var (conv, bn) in _layers)
            // Without BatchNorm between them, conv and LeakyReLU are one fused op (ConvEpilogue; same values).
            x = bn is null ? conv.Forward(x, ConvEpilogue.LeakyRelu(_slope)) : F.LeakyRelu(bn.Forward(conv.Forward(x)), _slope);
        return x;
    }

    /// <summary>The head on features: [N, outputs].</summary>
    public Tensor Head(Tensor features) => _head.Forward(features).Reshape(features.Dim(0), _outputs);

    public Tensor Forward(Tensor x) => Head(Features(x));
}

/// <summary>D(x): one logit per image (real vs generated).</summary>
public sealed class GanDiscriminator(Backend backend, Rng rng, GanConfig c) : GanDownNet(backend, rng, c, 1);

/// <summary>E(x) → z [N, Z], trained to invert G (‖E(G(z)) − z‖²) from the first step; ‖E(x)‖ is the anomaly score.</summary>
public sealed class GanEncoder(Backend backend, Rng rng, GanConfig c) : GanDownNet(backend, rng, c, c.LatentDim);

/// <summary>
/// The three networks of the contaminated-data paper's method, as one module (state-dict keys g.*, d.*, e.*).
/// Initialised as DCGAN: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0, from the seed.
/// </summary>
public sealed class Gan : Module
{
    public Gan(Backend backend, GanConfig config, ulong seed)
    {
        config.Validate();
        Config = config;
        var rng = new Rng(seed);
        G = RegisterModule("g", new GanGenerator(backend, rng, config));
        D = RegisterModule("d", new GanDiscriminator(backend, rng, config));
        E = RegisterModule("e", new GanEncoder(backend, rng, config));
        foreach (var (name, p) in NamedParameters())
        {
            var v = new float[p.Numel];
            bool bnWeight = p.Rank == 1 && name.EndsWith(".weight", StringComparison.Ordinal);
            if (p.Rank == 4) for (int i = 0; i < v.Length; i++) v[i] = 0.02f * rng.Normal();
            else if (bnWeight) for (int i = 0; i < v.Length; i++) v[i] = 1f + 0.02f * rng.Normal();
            backend.Upload(v, p.Memory);
        }
    }

    public GanConfig Config { get; }
    public GanGenerator G { get; }
    public GanDiscriminator D { get; }
    public GanEncoder E { get; }
}
