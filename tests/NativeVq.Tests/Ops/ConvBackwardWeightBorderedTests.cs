using System.Runtime.Intrinsics;
using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

/// <summary>
/// The k4 s2 p1 weight gradient reading its taps from a zero-bordered copy of x must give the column-row path's bits:
/// same products, same order, +0 in the padding.
/// </summary>
public class ConvBackwardWeightBorderedTests
{
    [Theory]
    [InlineData(64, 1, 32, 32, 16)]  // VAE enc1 / dec3: 16x16 tile, one tap panel, image parts
    [InlineData(64, 16, 16, 16, 32)] // VAE 16→32, 8x8 outputs: 4 images per block
    [InlineData(64, 32, 8, 8, 64)]   // VAE 32→64, 4x4 outputs: 16 images per block
    [InlineData(5, 16, 16, 16, 40)]  // Cout 40: a padded Cout panel, odd batch
    [InlineData(3, 3, 24, 16, 8)]    // H ≠ W, Hout 12: blocks of 32 rows start inside images
    [InlineData(7, 5, 10, 8, 16)]    // Hout 5, Wout 4: 64-row blocks spanning partial images
    [InlineData(1, 2, 32, 32, 64)]   // one image, Wout 16
    [InlineData(2, 3, 12, 20, 16)]   // W 20: a 4-float tail after a whole vector
    [InlineData(2, 4, 6, 14, 32)]    // W 14: rows of 16 floats with the border's last +0 in the next vector
    public void BitIdenticalToColumnRows(int n, int cin, int h, int w, int cout)
    {
        if (!Vector512.IsHardwareAccelerated || !System.Runtime.Intrinsics.X86.Avx512F.IsSupported) return;
        var g = ConvGeom.Create(n, cin, h, w, cout, 4, 4, 2, 2, 1, 1, 1, 1);
        var rng = new Random(n * 7 + cin + h);
        var x = Enumerable.Range(0, g.InputSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        var dy = Enumerable.Range(0, g.OutputSize).Select(_ => rng.NextSingle() * 2 - 1).ToArray();
        // −0 inputs: a product with the padding's +0 must be summed exactly as the column rows do.
        for (int i = 0; i < x.Length; i += 13) x[i] = -0f;
        foreach (var tile in new[] { CpuConvBackwardWeightGemm.Tile.Wide8x32, CpuConvBackwardWeightGemm.Tile.Narrow16x16 })
        {
            Assert.True(CpuConvBackwardWeightGemm.SupportsBordered(g, tile));
            var bordered = Enumerable.Repeat(0.125f, g.WeightSize).ToArray(); // accumulates
            var rows = (float[])bordered.Clone();
            CpuConvBackwardWeightGemm.Run(x, dy, bordered, g, tile, bordered: true);
            CpuConvBackwardWeightGemm.Run(x, dy, rows, g, tile, bordered: false);
            Bits.AssertSame(rows, bordered);
        }
    }

    [Fact]
    public void OtherGeometriesKeepColumnRows()
    {
        var tile = CpuConvBackwardWeightGemm.Tile.Wide8x32;
        Assert.False(CpuConvBackwardWeightGemm.ReadsBordered(ConvGeom.Create(2, 4, 8, 8, 32, 3, 3, 2, 2, 1, 1, 1, 1), tile));
        Assert.False(CpuConvBackwardWeightGemm.ReadsBordered(ConvGeom.Create(2, 4, 9, 9, 32, 4, 4, 2, 2, 1, 1, 1, 1), tile));
        Assert.False(CpuConvBackwardWeightGemm.ReadsBordered(ConvGeom.Create(2, 4, 16, 16, 32, 4, 4, 2, 2, 1, 1, 1, 1),
            CpuConvBackwardWeightGemm.Tile.Avx2x6x16));
        // Rows of 8 (4x4 outputs): supported, but column rows are the default there (measured faster).
        var narrowRows = ConvGeom.Create(2, 4, 8, 8, 32, 4, 4, 2, 2, 1, 1, 1, 1);
        Assert.Equal(System.Runtime.Intrinsics.X86.Avx512F.IsSupported, CpuConvBackwardWeightGemm.SupportsBordered(narrowRows, tile));
        Assert.False(CpuConvBackwardWeightGemm.ReadsBordered(narrowRows, tile));
    }
}
