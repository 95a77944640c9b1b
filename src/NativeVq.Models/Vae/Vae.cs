using NativeVq.Nn;

namespace NativeVq.Models;

/// <summary>Output of one VAE training pass.</summary>
public sealed record VaeOutput(Tensor Reconstruction, Tensor Mu, Tensor LogVar, Tensor ReconLoss, Tensor Kl, Tensor Loss);

/// <summary>
/// Convolutional VAE (the reconstruction baseline of the first source paper): encoder x → (μ, log σ²) over a flat
/// latent, reparameterisation z = μ + σ·ε with ε drawn from a seeded <see cref="Rng"/> (same seed, same result),
/// decoder z → x̂. Loss = reconstruction + β·KL, both per image and averaged over the batch; the reconstruction
/// term is the per-image sum of squared errors (a Gaussian decoder of fixed variance), so it weighs against the
/// per-image KL as in the ELBO rather than being divided by the pixel count.
/// </summary>
public sealed class Vae : Module
{
    private readonly Conv2d _e1, _e2, _e3;
    private readonly Linear _mu, _logVar, _fromZ;
    private readonly ConvTranspose2d _d1, _d2, _d3;

    public Vae(Backend backend, VaeConfig config, ulong seed)
    {
        config.Validate();
        Config = config;
        Backend = backend;
        var rng = new Rng(seed);
        int c = config.Channels, c1 = c / 4, c2 = c / 2;
        _e1 = RegisterModule("enc1", new Conv2d(backend, rng, config.ImageChannels, c1, 4, 2, 1));
        _e2 = RegisterModule("enc2", new Conv2d(backend, rng, c1, c2, 4, 2, 1));
        _e3 = RegisterModule("enc3", new Conv2d(backend, rng, c2, c, 4, 2, 1));
        _mu = RegisterModule("mu", new Linear(backend, rng, config.FlatFeatures, config.Latent));
        _logVar = RegisterModule("logvar", new Linear(backend, rng, config.FlatFeatures, config.Latent));
        _fromZ = RegisterModule("from_z", new Linear(backend, rng, config.Latent, config.FlatFeatures));
        _d1 = RegisterModule("dec1", new ConvTranspose2d(backend, rng, c, c2, 4, 2, 1));
        _d2 = RegisterModule("dec2", new ConvTranspose2d(backend, rng, c2, c1, 4, 2, 1));
        _d3 = RegisterModule("dec3", new ConvTranspose2d(backend, rng, c1, config.ImageChannels, 4, 2, 1));
    }

    public VaeConfig Config { get; }
    public Backend Backend { get; }

    /// <summary>x [N, C, S, S] in [-1, 1] → μ, log σ² [N, Latent].</summary>
    public (Tensor Mu, Tensor LogVar) Encode(Tensor x)
    {
        // conv → bias → ReLU as one fused op per layer (ConvEpilogue): the same values as F.Relu(conv(x)), in one pass.
        var relu = ConvEpilogue.Relu;
        var h = _e3.Forward(_e2.Forward(_e1.Forward(x, relu), relu), relu);
        var flat = F.Reshape(h, x.Dim(0), Config.FlatFeatures);
        return (_mu.Forward(flat), _logVar.Forward(flat));
    }

    /// <summary>z [N, Latent] → x̂ [N, C, S, S] (no output activation, like the VQ-VAE's decoder).</summary>
    public Tensor Decode(Tensor z)
    {
        int g = Config.GridSize;
        // Linear → bias → ReLU as one fused op (the same values as F.Relu of the Linear), then viewed as [N, C, g, g].
        var h = F.Reshape(_fromZ.Forward(z, ConvEpilogue.Relu), z.Dim(0), Config.Channels, g, g);
        return _d3.Forward(_d2.Forward(_d1.Forward(h, ConvEpilogue.Relu), ConvEpilogue.Relu));
    }

    /// <summary>z = μ + exp(½·log σ²)·ε with ε ~ N(0, I) drawn from <paramref name="rng"/> on the host (so it is seeded and resumable on every backend).</summary>
    public static Tensor Reparameterise(Tensor mu, Tensor logVar, Rng rng)
    {
        var eps = new float[mu.Numel];
        for (int i = 0; i < eps.Length; i++) eps[i] = rng.Normal();
        var e = Tensor.FromArray(mu.Backend, eps, mu.Shape);
        return F.Add(mu, F.Mul(F.Exp(F.Scale(logVar, 0.5f)), e));
    }

    public VaeOutput Forward(Tensor x, Rng rng)
    {
        var (mu, logVar) = Encode(x);
        var rec = Decode(Reparameterise(mu, logVar, rng));
        int perImage = x.Numel / Math.Max(1, x.Dim(0));
        var recLoss = F.Scale(F.MseLoss(rec, x), perImage);
        var kl = F.GaussianKl(mu, logVar);
        return new VaeOutput(rec, mu, logVar, recLoss, kl, F.Add(recLoss, F.Scale(kl, Config.Beta)));
    }
}
