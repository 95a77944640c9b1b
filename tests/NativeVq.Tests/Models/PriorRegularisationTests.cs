using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Models.Training;
using NativeVq.Optim;

namespace NativeVq.Tests.Models;

public sealed class PriorRegularisationTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-prior-reg-" + Guid.NewGuid().ToString("N"));
    private static readonly PixelSnailConfig Small = new() { Codes = 6, Height = 4, Width = 4, Channels = 8, KeyDim = 4, ValueDim = 8 };

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    [Fact]
    public void DecoupledWeightDecayMatchesAdamWByHand()
    {
        var p = Tensor.FromArray(CpuBackend.Instance, new[] { 1f, -2f, 0.5f }, 3);
        p.RequiresGrad = true;
        using var adam = new Adam([p], lr: 0.1f) { DecoupledWeightDecay = 0.01f };
        F.Accumulate(p, Tensor.FromArray(CpuBackend.Instance, new[] { 0.3f, 0f, -1f }, 3));
        adam.Step();
        // torch.optim.AdamW, first step: p ← p·(1 − lr·wd), then p −= lr/(1−β1) · m / (sqrt(v)/sqrt(1−β2) + eps)
        // with m = (1−β1)·g, v = (1−β2)·g²: the decay is not folded into the gradient (the zero-gradient weight still shrinks).
        var expected = new[] { 1.0, -2.0, 0.5 }.Zip(new[] { 0.3, 0.0, -1.0 }, (pv, g) =>
        {
            double m = 0.1 * g, v = 0.001 * g * g;
            return pv * (1 - 0.1 * 0.01) - 0.1 / 0.1 * m / (Math.Sqrt(v) / Math.Sqrt(0.001) + 1e-8);
        }).ToArray();
        var got = p.ToArray();
        for (int i = 0; i < 3; i++) Assert.True(Math.Abs(got[i] - expected[i]) < 1e-6, $"{i}: {got[i]} vs {expected[i]}");
        Assert.Equal(-2f * 0.999f, got[1], 6);
    }

    /// <summary>Training maps use codes 0–2 only; the held-out maps are all code 5, whose probability training keeps lowering.</summary>
    private PriorTrainer Diverging(string name, int patience, bool keepBest, int epochs = 4, bool resume = false)
    {
        var rng = new Rng(3);
        var train = new CodeMaps(Enumerable.Range(0, 24 * 16).Select(_ => rng.NextInt(3)).ToArray(), new int[24], 24, 4, 4);
        var held = new CodeMaps(Enumerable.Repeat(5, 4 * 16).ToArray(), new int[4], 4, 4, 4);
        return new PriorTrainer(CpuBackend.Instance, train, held, Small,
            new PriorTrainOptions { Out = Path.Combine(_dir, name), Epochs = epochs, Batch = 8, Lr = 1e-2f, Seed = 2, Patience = patience, KeepBest = keepBest, Resume = resume });
    }

    [Fact]
    public void EarlyStoppingKeepsTheBestHeldOutEpoch()
    {
        var t = Diverging("es", patience: 1, keepBest: true);
        t.Run();
        Assert.True(t.History[1].HeldOutNll > t.History[0].HeldOutNll, "the held-out NLL must rise for this test to mean anything");
        var r = t.Result!;
        Assert.Equal(1, r.BestEpoch);
        Assert.Equal(2, r.EpochsRun);   // patience 1: the first epoch without improvement ends the run
        Assert.True(r.StoppedEarly);
        Assert.Equal(2, t.History.Count);
        // The prior on disk is epoch 1's, not the last trained one: its held-out NLL is epoch 1's.
        var loaded = ModelStore.LoadPrior(Path.Combine(_dir, "es"), CpuBackend.Instance);
        var held = new CodeMaps(Enumerable.Repeat(5, 4 * 16).ToArray(), new int[4], 4, 4, 4);
        double nll = PriorTrainer.NllPerCode(loaded, held, CpuBackend.Instance).Average(v => (double)v);
        Assert.Equal(t.History[0].HeldOutNll, nll, 9);
        Assert.Equal(r.HeldOutNll, nll, 9);
        Assert.False(File.Exists(Path.Combine(_dir, "es", PriorTrainer.BestName)));
        Assert.True(r.Memorised);   // held-out code 5 is far less likely than the training codes: the warning fires
        var e = Assert.Throws<UserError>(() => Diverging("es", patience: 1, keepBest: true, epochs: 6, resume: true).Run());
        Assert.Contains("finished", e.Message);   // it holds epoch 1's weights, not the optimizer state of epoch 2
    }

    [Fact]
    public void WithoutKeepBestTheLastEpochIsKept()
    {
        var t = Diverging("last", patience: 0, keepBest: false);
        t.Run();
        Assert.Equal(4, t.Result!.EpochsRun);
        Assert.Equal(4, t.Result.BestEpoch);
        Assert.Equal(t.History[3].HeldOutNll, t.Result.HeldOutNll, 9);
        Assert.True(t.History[3].HeldOutNll > t.History[0].HeldOutNll);
        // The last epoch kept: prior.nvq is still a full checkpoint, and --resume with more epochs extends it.
        var more = Diverging("last", patience: 0, keepBest: false, epochs: 5, resume: true);
        more.Run();
        Assert.Equal(5, more.Result!.EpochsRun);
        Assert.Equal(5, File.ReadAllLines(Path.Combine(_dir, "last", PriorTrainer.MetricsName)).Length);
    }

    [Fact]
    public void MemorisationMeansHeldOutNotWithin25PercentOfTraining()
    {
        Assert.True(PriorTrainResult.IsMemorised(2.05, 6.27));   // issue 13's gravel prior
        Assert.True(PriorTrainResult.IsMemorised(1.27, 1.90));   // brick: 50 % above
        Assert.False(PriorTrainResult.IsMemorised(1.00, 1.25));
        Assert.True(PriorTrainResult.IsMemorised(1.00, 1.26));
        Assert.False(PriorTrainResult.IsMemorised(0.84, 0.80));
        Assert.False(PriorTrainResult.IsMemorised(1.0, double.NaN));   // nothing held out: nothing to say
    }
}
