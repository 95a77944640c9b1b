using NativeVq.Data;

namespace NativeVq.Tests.Data;

public sealed class AugmentationTests
{
    /// <summary>A 2-channel 3x3 image whose every value is distinct: value = 100·c + 10·y + x.</summary>
    private static float[] Image() => Enumerable.Range(0, 18).Select(i => (float)(100 * (i / 9) + 10 * (i % 9 / 3) + i % 3)).ToArray();

    private static float[] Apply(Action<float[], float[]> t, float[] src)
    {
        var dst = new float[src.Length];
        t(src, dst);
        return dst;
    }

    [Fact]
    public void FlipsTwiceAndFourRotationsAreTheIdentity()
    {
        var x = Image();
        Assert.Equal(x, Apply((s, d) => ImageTransforms.FlipHorizontal(s, d, 2, 3), Apply((s, d) => ImageTransforms.FlipHorizontal(s, d, 2, 3), x)));
        Assert.Equal(x, Apply((s, d) => ImageTransforms.FlipVertical(s, d, 2, 3), Apply((s, d) => ImageTransforms.FlipVertical(s, d, 2, 3), x)));
        var r = x;
        for (int k = 0; k < 4; k++)
        {
            r = Apply((s, d) => ImageTransforms.Rotate90(s, d, 2, 3), r);
            if (k < 3) Assert.NotEqual(x, r);
        }
        Assert.Equal(x, r);
    }

    [Fact]
    public void TransformsOfAKnownImageMatchNumpy()
    {
        var x = Image();
        // numpy: np.rot90(a) of [[0,1,2],[10,11,12],[20,21,22]] = [[2,12,22],[1,11,21],[0,10,20]]; channel 1 likewise.
        Assert.Equal(new float[] { 2, 12, 22, 1, 11, 21, 0, 10, 20, 102, 112, 122, 101, 111, 121, 100, 110, 120 },
            Apply((s, d) => ImageTransforms.Rotate90(s, d, 2, 3), x));
        Assert.Equal(new float[] { 2, 1, 0, 12, 11, 10, 22, 21, 20 }, Apply((s, d) => ImageTransforms.FlipHorizontal(s, d, 2, 3), x)[..9]);
        Assert.Equal(new float[] { 20, 21, 22, 10, 11, 12, 0, 1, 2 }, Apply((s, d) => ImageTransforms.FlipVertical(s, d, 2, 3), x)[..9]);
        // Shift right by 1, up by 1 (dy = -1): content moves; the uncovered column/row mirror the image without repeating the edge.
        Assert.Equal(new float[] { 11, 10, 11, 21, 20, 21, 11, 10, 11 }, Apply((s, d) => ImageTransforms.Shift(s, d, 2, 3, 1, -1), x)[..9]);
        Assert.Equal(x, Apply((s, d) => ImageTransforms.Shift(s, d, 2, 3, 0, 0), x));
    }

    [Fact]
    public void AugmentedDatasetIsDeterministicPerIndexAndKeepsLabels()
    {
        var inner = new SyntheticTextures(3, 16, 1);
        var aug = new AugmentedDataset(inner, 2, new AugmentOptions(true, true, 2), seed: 7);
        Assert.Equal(6, aug.Count);
        Assert.Equal(aug.Load(4), aug.Load(4));
        Assert.Equal(inner.LabelOf(1), aug.LabelOf(4));
        Assert.NotEqual(aug.Load(1), aug.Load(4));   // two copies of image 1 drew different transforms
        Assert.Equal(inner.Load(2), new AugmentedDataset(inner, 1, AugmentOptions.None, 7).Load(2));
        // Every augmented image is a permutation of its source's pixels only when no shift is drawn; values stay in range.
        Assert.All(aug.Load(3), v => Assert.InRange(v, -1f, 1f));
    }

    [Fact]
    public void DigitsGetNoFlipsOrRotationsByDefaultAndTheListParses()
    {
        Assert.Equal(new AugmentOptions(false, false, 2), AugmentOptions.ForFormat("idx", 32));
        Assert.Equal(new AugmentOptions(true, true, 4), AugmentOptions.ForFormat("folder", 64));
        Assert.Equal(new AugmentOptions(true, false, 3), AugmentOptions.Parse("flip,shift3"));
        Assert.True(AugmentOptions.Parse("none").IsNone);
        Assert.Equal("flip,rot90,shift4", AugmentOptions.ForFormat("mvtec", 64).ToString());
        var e = Assert.Throws<UserError>(() => AugmentOptions.Parse("flip,mirror"));
        Assert.Contains("--augment", e.Message);
        Assert.Contains("mirror", e.Message);
    }
}
