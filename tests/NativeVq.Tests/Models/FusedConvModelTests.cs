using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Nn;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Models;

/// <summary>
/// The VAE and the GAN's discriminator/encoder use the fused conv + bias + activation op; their forward pass and every
/// gradient must equal the unfused composition (conv, then F.Relu / F.LeakyRelu) bit for bit. The references below are
/// written out layer by layer from the models' own modules, so a change in either side shows up here.
/// </summary>
public sealed class FusedConvModelTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    private static T Child<T>(Module m, string name) where T : Module => (T)m.Children().Single(c => c.Name == name).Module;

    /// <summary>Vae.Forward written with unfused ops: F.Relu after each conv.</summary>
    private static Tensor UnfusedVaeLoss(Vae m, Tensor x, Rng rng)
    {
        var c = m.Config;
        Conv2d E(string n) => Child<Conv2d>(m, n);
        ConvTranspose2d D(string n) => Child<ConvTranspose2d>(m, n);
        Linear L(string n) => Child<Linear>(m, n);
        var h = F.Relu(E("enc3").Forward(F.Relu(E("enc2").Forward(F.Relu(E("enc1").Forward(x))))));
        var flat = F.Reshape(h, x.Dim(0), c.FlatFeatures);
        var (mu, logVar) = (L("mu").Forward(flat), L("logvar").Forward(flat));
        var z = Vae.Reparameterise(mu, logVar, rng);
        var d = F.Relu(F.Reshape(L("from_z").Forward(z), z.Dim(0), c.Channels, c.GridSize, c.GridSize));
        var rec = D("dec3").Forward(F.Relu(D("dec2").Forward(F.Relu(D("dec1").Forward(d)))));
        var recLoss = F.Scale(F.MseLoss(rec, x), x.Numel / x.Dim(0));
        return F.Add(recLoss, F.Scale(F.GaussianKl(mu, logVar), c.Beta));
    }

    private static (float Loss, float[][] Grads) LossAndGrads(Module m, Func<Tensor> loss)
    {
        m.ZeroGrad();
        using var scope = new TensorScope();
        var l = loss();
        l.Backward();
        var grads = m.Parameters().Select(p => p.Grad!.ToArray()).ToArray();
        m.ZeroGrad();
        return (l.ToArray()[0], grads);
    }

    [Theory]
    [InlineData(1, 32, 16)]
    [InlineData(3, 16, 8)]
    public void VaeForwardAndGradientsEqualTheUnfusedComposition(int imageChannels, int size, int channels)
    {
        var m = new Vae(Cpu, new VaeConfig { ImageChannels = imageChannels, ImageSize = size, Channels = channels, Latent = 6 }, seed: 3);
        var x = GradCheck.Random(Cpu, 4, 6, imageChannels, size, size);
        var fused = LossAndGrads(m, () => m.Forward(x, new Rng(9)).Loss);
        var unfused = LossAndGrads(m, () => UnfusedVaeLoss(m, x, new Rng(9)));
        Assert.Equal(unfused.Loss, fused.Loss);
        Assert.Equal(unfused.Grads.Length, fused.Grads.Length);
        for (int i = 0; i < fused.Grads.Length; i++) Assert.Equal(unfused.Grads[i], fused.Grads[i]);
        Assert.Contains(fused.Grads, g => g.Any(v => v != 0f));
    }

    /// <summary>GanDownNet.Features written with unfused ops: conv, BatchNorm where there is one, F.LeakyRelu.</summary>
    private static Tensor UnfusedFeatures(GanDownNet net, GanConfig c, Tensor x)
    {
        for (int i = 0; i < c.Stages; i++)
        {
            x = Child<Conv2d>(net, $"down{i}").Forward(x);
            if (i > 0) x = Child<BatchNorm2d>(net, $"bn{i}").Forward(x);
            x = F.LeakyRelu(x, c.LeakySlope);
        }
        return x;
    }

    [Fact]
    public void GanDiscriminatorAndEncoderEqualTheUnfusedComposition()
    {
        var cfg = new GanConfig { ImageSize = 32, Width = 8, LatentDim = 10 };
        var gan = new Gan(Cpu, cfg, seed: 2);
        var x = GradCheck.Random(Cpu, 5, 4, cfg.ImageChannels, 32, 32);
        var u = GradCheck.Random(Cpu, 6, 4, cfg.LatentDim);
        foreach (GanDownNet net in new GanDownNet[] { gan.D, gan.E })
        {
            int outputs = net == gan.D ? 1 : cfg.LatentDim;
            var fused = LossAndGrads(net, () => Weighted(net.Forward(x), u, outputs));
            var unfused = LossAndGrads(net, () => Weighted(net.Head(UnfusedFeatures(net, cfg, x)), u, outputs));
            Assert.Equal(unfused.Loss, fused.Loss);
            for (int i = 0; i < fused.Grads.Length; i++) Assert.Equal(unfused.Grads[i], fused.Grads[i]);
        }
    }

    /// <summary>Σ u·out with a fixed random u (the first <paramref name="outputs"/> columns of it).</summary>
    private static Tensor Weighted(Tensor o, Tensor u, int outputs)
    {
        var w = outputs == u.Dim(1) ? u : Tensor.FromArray(Cpu, Enumerable.Range(0, o.Dim(0)).Select(i => u.ToArray()[i * u.Dim(1)]).ToArray(), o.Dim(0), 1);
        return F.Sum(F.Mul(o, w));
    }
}
