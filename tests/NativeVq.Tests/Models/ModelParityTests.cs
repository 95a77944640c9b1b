using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Models;

/// <summary>
/// Whole models on the GPU kernels (ILGPU's CPU accelerator) against the cpu backend, at tiny sizes: every
/// kernel a training step launches, forward and backward, in the order the models use them.
/// </summary>
[Collection("ilgpu")]
public sealed class ModelParityTests(IlgpuFixture ilgpu)
{
    private static void CopyState(NativeVq.Nn.Module from, NativeVq.Nn.Module to)
    {
        var dst = to.StateDict().ToDictionary(p => p.Name, p => p.Tensor);
        foreach (var (name, t) in from.StateDict())
        {
            if (t.DType == DType.F32) dst[name].Backend.Upload(t.ToArray(), dst[name].Memory);
            else dst[name].Backend.Upload(t.ToIntArray(), dst[name].Memory);
        }
    }

    private static void AssertClose(float[] a, float[] b, double tol, string what)
    {
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
            if (!(Math.Abs(a[i] - b[i]) <= tol * (1 + Math.Abs(a[i])))) Assert.Fail($"{what}[{i}]: cpu {a[i]}, ilgpu-cpu {b[i]}");
    }

    [Fact]
    public void GanTrainingStepMatchesCpu()
    {
        // Every GAN kernel: transposed conv, BatchNorm, LeakyReLU, tanh, BCE with logits, MSE, L1, three Adams.
        var cfg = new GanConfig { LatentDim = 5, Width = 2 };
        var cpu = new Gan(CpuBackend.Instance, cfg, 4);
        var gpu = new Gan(ilgpu.Backend, cfg, 4);
        var x = GradCheck.Random(CpuBackend.Instance, 12, 3, 1, 32, 32).ToArray();
        var z = GradCheck.Random(CpuBackend.Instance, 13, 3, 5).ToArray();
        using var scope = new TensorScope();
        GanStepLosses Step(Gan m, Backend b)
        {
            var adams = GanTrainer.CreateOptimizers(m, 2e-4f, 0.5f);
            var l = GanTrainer.TrainStep(m, adams, Tensor.FromArray(b, x, 3, 1, 32, 32), Tensor.FromArray(b, z, 3, 5), reconWeight: 0.5f);
            foreach (var a in adams) a.Dispose();
            return l;
        }
        var lc = Step(cpu, CpuBackend.Instance);
        var lg = Step(gpu, ilgpu.Backend);
        AssertClose([lc.D, lc.G, lc.E, lc.Recon], [lg.D, lg.G, lg.E, lg.Recon], 1e-4, "losses D, G, E, recon");
        var after = gpu.StateDict().ToDictionary(p => p.Name, p => p.Tensor.ToArray());
        foreach (var (name, t) in cpu.StateDict()) AssertClose(t.ToArray(), after[name], 1e-4, name);
    }

    [Fact]
    public void VqVaeTrainingStepMatchesCpu()
    {
        var cfg = new VqVaeConfig { Channels = 4, ResChannels = 2, ResBlocks = 1, EmbeddingDim = 3, CodebookSize = 6, ImageSize = 8 };
        var cpu = new VqVae(CpuBackend.Instance, cfg, 3);
        var gpu = new VqVae(ilgpu.Backend, cfg, 3);
        CopyState(cpu, gpu);
        var x = GradCheck.Random(CpuBackend.Instance, 9, 2, 1, 8, 8).ToArray();
        using var scope = new TensorScope();
        var oc = cpu.Forward(Tensor.FromArray(CpuBackend.Instance, x, 2, 1, 8, 8));
        var og = gpu.Forward(Tensor.FromArray(ilgpu.Backend, x, 2, 1, 8, 8));
        Assert.Equal(oc.Indices.ToIntArray(), og.Indices.ToIntArray());
        AssertClose(oc.Reconstruction.ToArray(), og.Reconstruction.ToArray(), 1e-4, "reconstruction");
        AssertClose(oc.Loss.ToArray(), og.Loss.ToArray(), 1e-4, "loss");
        oc.Loss.Backward();
        og.Loss.Backward();
        var gp = gpu.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        foreach (var (name, p) in cpu.NamedParameters())
            AssertClose(p.Grad!.ToArray(), gp[name].Grad!.ToArray(), 1e-3, "grad " + name);
    }

    [Fact]
    public void PixelSnailLossAndGradientsMatchCpu()
    {
        var cfg = new PixelSnailConfig { Codes = 5, Height = 3, Width = 3, Channels = 4, Blocks = 1, ResBlocks = 1, KeyDim = 2, ValueDim = 4 };
        var cpu = new PixelSnail(CpuBackend.Instance, cfg, 4);
        var gpu = new PixelSnail(ilgpu.Backend, cfg, 4);
        CopyState(cpu, gpu);
        int[] codes = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 1, 1, 2];
        using var scope = new TensorScope();
        var lc = cpu.Loss(Tensor.FromArray(CpuBackend.Instance, codes, 2, 3, 3));
        var lg = gpu.Loss(Tensor.FromArray(ilgpu.Backend, codes, 2, 3, 3));
        AssertClose(lc.ToArray(), lg.ToArray(), 1e-4, "loss");
        lc.Backward();
        lg.Backward();
        var gp = gpu.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        foreach (var (name, p) in cpu.NamedParameters())
            AssertClose(p.Grad!.ToArray(), gp[name].Grad!.ToArray(), 1e-3, "grad " + name);
    }
}
