using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Models;

public sealed class VqVaeTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    [Fact]
    public void DefaultConfigHasThePeersParameterCount()
    {
        var model = new VqVae(Cpu, new VqVaeConfig(), seed: 1);
        Assert.Equal(277_217, model.ParameterCount());
        Assert.Equal(31, model.Parameters().Count());
    }

    /// <summary>
    /// With the peer's weights loaded by name, our default model reproduces the PyTorch outputs, losses and all
    /// 31 parameter gradients: proof that the bench compares the same model.
    /// </summary>
    [Fact]
    public void ReproducesGoldenOutputsLossesAndEveryGradient()
    {
        var g = new GoldenCase("vqvae");
        var model = new VqVae(Cpu, new VqVaeConfig(), seed: 1);
        var named = model.NamedParameters().ToList();
        Assert.Equal(31, named.Count);
        foreach (var (name, p) in named)
        {
            Assert.True(g.Has(name), $"golden state dict has no {name}");
            Assert.Equal(g.T[name].Shape, p.Shape);
            Cpu.Upload(g.T[name].F!, p.Memory);
        }

        using var scope = new TensorScope();
        var x = F.Pad2d(g.Load(Cpu, "x"), 2, 2, 2, 2);   // the peer pads 28x28 to 32x32 inside the model
        g.AssertClose("x_padded", x);
        var o = model.Forward(x);
        g.AssertClose("z_e", o.ZE);
        g.AssertClose("indices", o.Indices);
        g.AssertClose("reconstruction", o.Reconstruction);
        g.AssertClose("rec_loss", o.ReconLoss);
        g.AssertClose("vq_loss", o.VqLoss);
        g.AssertClose("loss", o.Loss);
        o.Loss.Backward();
        foreach (var (name, p) in named) g.AssertGrad(name, p);
    }

    [Fact]
    public void EncodeAndDecodeCodesRoundTripShapes()
    {
        var model = new VqVae(Cpu, new VqVaeConfig { Channels = 8, ResChannels = 4, EmbeddingDim = 4, CodebookSize = 16 }, seed: 3);
        using var scope = new TensorScope();
        var x = GradCheck.Random(Cpu, 5, 3, 1, 32, 32);
        var codes = model.EncodeCodes(x);
        Assert.Equal(new[] { 3, 8, 8 }, codes.Shape);
        Assert.All(codes.ToIntArray(), c => Assert.InRange(c, 0, 15));
        var rec = model.DecodeCodes(codes);
        Assert.Equal(new[] { 3, 1, 32, 32 }, rec.Shape);
    }

    [Fact]
    public void DownsampleEightAndRgbBuildTheRightShapes()
    {
        var cfg = new VqVaeConfig { ImageChannels = 3, ImageSize = 64, Downsample = 8, Channels = 8, ResChannels = 4, EmbeddingDim = 4, CodebookSize = 8 };
        var model = new VqVae(Cpu, cfg, seed: 4);
        using var scope = new TensorScope();
        var o = model.Forward(GradCheck.Random(Cpu, 6, 2, 3, 64, 64));
        Assert.Equal(new[] { 2, 8, 8 }, o.Indices.Shape);
        Assert.Equal(new[] { 2, 3, 64, 64 }, o.Reconstruction.Shape);
    }

    [Fact]
    public void InvalidConfigIsAUserError()
    {
        var e = Assert.Throws<UserError>(() => new VqVae(Cpu, new VqVaeConfig { ImageSize = 30 }, seed: 1));
        Assert.Contains("--size 30", e.Message);
    }
}
