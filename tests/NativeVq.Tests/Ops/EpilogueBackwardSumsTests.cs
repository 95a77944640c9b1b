using System.Numerics.Tensors;
using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

/// <summary>
/// The conv epilogue's backward (dz = act'·dy with the bias gradient) against its unfused composition bit for bit:
/// a per-element scalar derivative "0 + d" and <see cref="CpuReduce.ChannelSum"/> (TensorPrimitives.Sum per plane,
/// summed in double) over that dz. Plane lengths cover the sums taken in registers (16·k floats, k below and above the
/// library's 8-vector blocks; the VAE's 4x4, 8x8 and 16x16 maps) and the library call (36), serially and in parallel,
/// with wide-ranging values so that any change in summation order shows.
/// </summary>
public sealed class EpilogueBackwardSumsTests
{
    public static IEnumerable<object[]> Cases() =>
        from hw in new[] { 16, 32, 48, 64, 112, 128, 144, 256, 400, 36 }
        from n in new[] { 3, 64 }
        from act in new[] { ConvActivation.None, ConvActivation.Relu, ConvActivation.LeakyRelu, ConvActivation.Elu }
        select new object[] { n, hw, act };

    [Theory]
    [MemberData(nameof(Cases))]
    public void BackwardEqualsUnfusedBitForBit(int n, int hw, ConvActivation act)
    {
        int c = 24;
        var ep = new ConvEpilogue(act, act == ConvActivation.LeakyRelu ? 0.2f : 0f);
        var rng = new Random(hw * 131 + n);
        int len = n * c * hw;
        var y = new float[len];
        var dy = new float[len];
        for (int i = 0; i < len; i++)
        {
            // Values spanning 2^-20..2^20 with both signs, exact zeros and negative zeros: a reordered sum rounds differently.
            y[i] = (i % 13) switch { 0 => 0f, 1 => -0f, _ => (float)(rng.NextDouble() * 4 - 2) };
            dy[i] = (i % 17) == 0 ? -0f : (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-20, 21)));
        }
        var dz = new float[len];
        var db = Enumerable.Range(0, c).Select(i => 0.25f * i).ToArray();
        CpuConvEpilogue.Backward(y, dy, dz, db, n, c, hw, ep);
        var dzNoBias = new float[len];
        CpuConvEpilogue.Backward(y, dy, dzNoBias, null, n, c, hw, ep);

        var want = new float[len];
        for (int i = 0; i < len; i++)
        {
            float v = y[i], g = dy[i];
            float d = act switch
            {
                ConvActivation.Relu => v > 0f ? g : 0f,
                ConvActivation.LeakyRelu => v > 0f ? g : g * ep.Slope,
                ConvActivation.Elu => v > 0f ? g : g * (v + 1f),
                _ => g,
            };
            want[i] = 0f + d;
        }
        var wantDb = Enumerable.Range(0, c).Select(i => 0.25f * i).ToArray();
        CpuReduce.ChannelSum(want, wantDb, n, c, hw);

        Bits.AssertSame(want, dz);
        Bits.AssertSame(want, dzNoBias);
        Bits.AssertSame(wantDb, db);
    }

    [Fact]
    public void PlaneSumsMatchTheLibraryAtEveryOffset()
    {
        // The in-register sum must equal TensorPrimitives.Sum wherever the plane starts (its float order must not depend
        // on the address, or repeating it would be wrong): planes of 16·k floats (k = 1..20) at offsets 0..15.
        var rng = new Random(7);
        for (int k = 1; k <= 20; k++)
            for (int offset = 0; offset < 16; offset++)
            {
                int hw = 16 * k;
                var y = new float[offset + hw];
                var dy = new float[offset + hw];
                for (int i = 0; i < dy.Length; i++)
                {
                    y[i] = 1f;
                    dy[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-24, 25)));
                }
                var dz = new float[offset + hw];
                var db = new float[1];
                CpuConvEpilogue.Backward(y[offset..], dy[offset..], dz, db, 1, 1, hw, ConvEpilogue.Relu);
                double want = TensorPrimitives.Sum(dy.AsSpan(offset, hw));
                Assert.Equal(BitConverter.SingleToInt32Bits((float)want), BitConverter.SingleToInt32Bits(db[0]));
            }
    }
}
