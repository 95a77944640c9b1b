using NativeVq.Data;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Data;

public sealed class ContaminationTests
{
    private static (IImageDataset Clean, IImageDataset Pool) Digits(int normal)
    {
        var all = DatasetFactory.Open(Paths.Mnist, new DatasetOptions { Format = "idx", Size = 32 });
        var train = all.SplitPerLabel(0.8).First;
        return (train.Where(l => l == normal), train.Where(l => l != normal));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.05)]
    [InlineData(0.10)]
    public void ReplacesExactlyRoundedPTimesNImagesByOtherClassesDeterministically(double p)
    {
        var (clean, pool) = Digits(3);
        var a = ContaminatedDataset.Create(clean, pool, p, seed: 7);
        int want = (int)Math.Round(p * clean.Count, MidpointRounding.AwayFromZero);
        Assert.Equal(want, a.Replaced);
        Assert.Equal(clean.Count, a.Count);
        var others = Enumerable.Range(0, a.Count).Where(i => a.LabelOf(i) != 3).ToArray();
        Assert.Equal(a.ReplacedPositions, others);
        Assert.Equal(want, Enumerable.Range(0, a.Count).Select(a.NameOf).Except(Enumerable.Range(0, clean.Count).Select(clean.NameOf)).Count());
        var b = ContaminatedDataset.Create(clean, pool, p, seed: 7);
        Assert.Equal(Enumerable.Range(0, a.Count).Select(a.NameOf), Enumerable.Range(0, b.Count).Select(b.NameOf));
        Assert.Equal(a.Load(others.FirstOrDefault()), b.Load(others.FirstOrDefault()));
        if (want > 0)
        {
            var c = ContaminatedDataset.Create(clean, pool, p, seed: 8);
            Assert.NotEqual(a.ReplacedPositions, c.ReplacedPositions);
        }
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void RefusesAFractionOutsideZeroToOne(double p)
    {
        var (clean, pool) = Digits(1);
        var e = Assert.Throws<UserError>(() => ContaminatedDataset.Create(clean, pool, p, 1));
        Assert.Contains("--contamination", e.Message);
    }
}
