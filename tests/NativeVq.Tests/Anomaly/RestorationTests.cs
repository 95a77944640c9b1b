using NativeVq.Anomaly.Scoring;
using NativeVq.Cpu;
using NativeVq.Models;

namespace NativeVq.Tests.Anomaly;

/// <summary>The fast restorer draws bit-identical code maps to the naive loop (random weights).</summary>
public sealed class RestorationTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    private static PixelSnailConfig Small(bool attention, int heads = 1, bool strict = false) => new()
    {
        Codes = 7, Height = 5, Width = 6, Channels = 8, Blocks = 2, ResBlocks = 2, Attention = attention,
        Heads = heads, StrictAttention = strict, KeyDim = 4, ValueDim = 8,
    };

    private static int[] RandomCodes(int n, int k, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => r.Next(k)).ToArray();
    }

    /// <summary>The whole-map logits of <paramref name="lanes"/> code maps in evaluation mode: what every per-position path must equal bitwise.</summary>
    private static float[] BatchLogits(PixelSnail prior, int[] codes, int lanes)
    {
        using var ng = Autograd.NoGrad();
        using var scope = new TensorScope();
        prior.Eval();
        return prior.Logits(Tensor.FromArray(Cpu, codes, lanes, prior.Config.Height, prior.Config.Width)).ToArray();
    }

    private static bool[] Mask(string kind, int n, int seed)
    {
        var r = new Random(seed);
        return kind switch
        {
            "empty" => new bool[n],
            "all" => Enumerable.Repeat(true, n).ToArray(),
            "first" => Enumerable.Range(0, n).Select(i => i == 0).ToArray(),
            "last" => Enumerable.Range(0, n).Select(i => i == n - 1).ToArray(),
            _ => Enumerable.Range(0, n).Select(_ => r.NextDouble() < 0.35).ToArray(),
        };
    }

    private static void AssertSame(PixelSnail prior, int[] codes, bool[] mask, int count, ulong seed, float t)
    {
        var naive = new NaiveRestorer().Restore(prior, codes, mask, count, seed, t);
        var fast = new IncrementalRestorer().Restore(prior, codes, mask, count, seed, t);
        Assert.Equal(naive, fast);
        var cached = new CachedRestorer().Restore(prior, codes, mask, count, seed, t);
        Assert.Equal(naive, cached);
        int hw = codes.Length;
        for (int s = 0; s < count; s++)
            for (int p = 0; p < hw; p++)
                if (!mask[p]) Assert.Equal(codes[p], fast[s * hw + p]);
    }

    /// <summary>
    /// The model's per-position inference gives bitwise the batch kernels' logits at every position, for several
    /// lanes at once (draws alone would hide 1-ulp differences: they rarely flip a draw) — at every supported grid:
    /// the peer's 8x8, the 16x16 and 32x16 presets (128 channels: 1×1 and attention K spans two KC blocks), odd shapes.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void PositionLogitsAreBitwiseTheBatchLogits(int which)
    {
        var cfg = which switch
        {
            0 => new PixelSnailConfig(),
            1 => Small(true, 2, true),
            2 => Small(false),
            3 => new PixelSnailConfig { Codes = 9, Height = 3, Width = 4, Channels = 8, Blocks = 2, ResBlocks = 1, KeyDim = 4, ValueDim = 8 },
            4 => new PixelSnailConfig { Codes = 9, Height = 4, Width = 4, Channels = 130, Blocks = 1, ResBlocks = 1, KeyDim = 4, ValueDim = 8, Heads = 2 },
            5 => new PixelSnailConfig { Codes = 9, Height = 4, Width = 5, Channels = 8, Blocks = 2, ResBlocks = 1, KernelSize = 5, StemKernelSize = 7 },
            6 => PixelSnailConfig.Larger(32, 16, 16),
            7 => PixelSnailConfig.Larger(16, 20, 12) with { Blocks = 2, ResBlocks = 2 },
            // 32x32 / 128 channels: attention rows up to 1024 long (four KC blocks over t), one stage to keep it short.
            _ => PixelSnailConfig.Larger(16, 32, 32) with { Blocks = 1, ResBlocks = 2 },
        };
        var prior = new PixelSnail(Cpu, cfg, 70 + (ulong)which);
        int hw = cfg.Height * cfg.Width, k = cfg.Codes, lanes = which == 0 ? 5 : which == 8 ? 2 : 3;
        var codes = RandomCodes(lanes * hw, k, 71 + which);
        var batched = BatchLogits(prior, codes, lanes);
        var net = new PixelSnailPositions(prior, lanes);
        codes.CopyTo(net.Codes, 0);
        var all = Enumerable.Range(0, lanes).ToArray();
        var logits = new float[lanes * k];
        for (int q = 0; q < hw; q++)
        {
            net.Advance(q, all);
            net.Logits(logits);
            for (int l = 0; l < lanes; l++)
                for (int c = 0; c < k; c++)
                    Assert.True(BitConverter.SingleToInt32Bits(logits[l * k + c]) == BitConverter.SingleToInt32Bits(batched[(l * k + c) * hw + q]),
                        $"lane {l} position {q} code {c}: {logits[l * k + c]:R} vs batch {batched[(l * k + c) * hw + q]:R}");
        }
    }

    /// <summary>
    /// More lanes than one 8-row register tile (11 of 12 lanes active, so one full tile and one padded one), C = 20
    /// (the masked convs' 8×8 transposed gather plus its scalar channel tail), and the last stage's output skipped at
    /// positions without logits: the logits that are asked for are still bitwise the batch logits, and asking after
    /// a skipped position is refused.
    /// </summary>
    [Fact]
    public void PackedTilesAndSkippedOutputsKeepBatchLogits()
    {
        var cfg = new PixelSnailConfig { Codes = 10, Height = 6, Width = 5, Channels = 20, Blocks = 2, ResBlocks = 2, KeyDim = 8, ValueDim = 136, Heads = 1 };
        var prior = new PixelSnail(Cpu, cfg, 77);
        int hw = cfg.Height * cfg.Width, k = cfg.Codes, lanes = 12;
        var codes = RandomCodes(lanes * hw, k, 78);
        var batched = BatchLogits(prior, codes, lanes);
        var net = new PixelSnailPositions(prior, lanes);
        codes.CopyTo(net.Codes, 0);
        var active = Enumerable.Range(0, lanes).Where(l => l != 4).ToArray();
        var logits = new float[lanes * k];
        for (int q = 0; q < hw; q++)
        {
            bool ask = q % 3 == 2 || q == hw - 1;
            net.Advance(q, active, logits: ask);
            if (!ask)
            {
                Assert.Throws<InvalidOperationException>(() => net.Logits(logits));
                continue;
            }
            net.Logits(logits);
            for (int r = 0; r < active.Length; r++)
                for (int c = 0; c < k; c++)
                {
                    int l = active[r];
                    Assert.True(BitConverter.SingleToInt32Bits(logits[r * k + c]) == BitConverter.SingleToInt32Bits(batched[(l * k + c) * hw + q]),
                        $"lane {l} position {q} code {c}: {logits[r * k + c]:R} vs batch {batched[(l * k + c) * hw + q]:R}");
                }
        }
    }

    /// <summary>
    /// Restorations at the real-size grids (16x16 and a non-square 8x12, several images batched into one run and
    /// split across threads) draw exactly the naive loop's codes.
    /// </summary>
    [Theory]
    [InlineData(16, 16, 1)]
    [InlineData(16, 16, 2)]
    [InlineData(8, 12, 3)]
    public void SeveralImagesAtRealGridsMatchNaive(int h, int w, int threads)
    {
        var cfg = new PixelSnailConfig { Codes = 12, Height = h, Width = w, Channels = 16, Blocks = 2, ResBlocks = 2, KeyDim = 8, ValueDim = 16, Heads = 2 };
        var prior = new PixelSnail(Cpu, cfg, 90 + (ulong)threads);
        int hw = h * w;
        var images = new List<RestoreRequest>();
        for (int g = 0; g < 3; g++)
        {
            var r = new Random(91 + g);
            // Few, clustered positions (what the threshold rule picks), a different span per image; one image has none.
            var mask = new bool[hw];
            if (g != 1)
                for (int i = 0; i < 4; i++) mask[Math.Min(hw - 1, g * hw / 3 + r.Next(hw / 2))] = true;
            images.Add(new RestoreRequest(RandomCodes(hw, cfg.Codes, 92 + g), mask, 93UL + (ulong)g));
        }
        var all = new CachedRestorer { Threads = threads }.RestoreAll(prior, images, 3, 1f);
        for (int g = 0; g < images.Count; g++)
            Assert.Equal(new NaiveRestorer().Restore(prior, images[g].Codes, images[g].Resample, 3, images[g].Seed, 1f), all[g]);
    }

    /// <summary>
    /// Restorations whose draws agree share one evaluation until they differ: at a low temperature (draws nearly
    /// the argmax) far fewer lane-positions are evaluated than S per position, and the maps are still exactly the
    /// naive loop's — with several images batched, split across threads, at a temperature where some draws agree
    /// and some split (classes split at different positions) and at one where almost all agree.
    /// </summary>
    [Theory]
    [InlineData(0.0001f, 1)]
    [InlineData(0.0001f, 2)]
    [InlineData(0.5f, 2)]
    public void AgreeingRestorationsShareEvaluations(float temperature, int threads)
    {
        var cfg = new PixelSnailConfig { Codes = 12, Height = 8, Width = 8, Channels = 16, Blocks = 2, ResBlocks = 2, KeyDim = 8, ValueDim = 16, Heads = 2 };
        var prior = new PixelSnail(Cpu, cfg, 95);
        int hw = cfg.Height * cfg.Width, count = 6;
        var images = Enumerable.Range(0, 3)
            .Select(g => new RestoreRequest(RandomCodes(hw, cfg.Codes, 96 + g), Mask("scattered", hw, 97 + g), 98UL + (ulong)g)).ToList();
        var restorer = new CachedRestorer { Threads = threads };
        var all = restorer.RestoreAll(prior, images, count, temperature);
        for (int g = 0; g < images.Count; g++)
            Assert.Equal(new NaiveRestorer().Restore(prior, images[g].Codes, images[g].Resample, count, images[g].Seed, temperature), all[g]);
        long former = images.Sum(im => CachedRestorer.EvaluatedPositions(im.Resample, count));
        Assert.True(restorer.EvaluatedLanePositions <= former, $"{restorer.EvaluatedLanePositions} > {former}");
        if (temperature < 0.01f) Assert.True(restorer.EvaluatedLanePositions < former / 2, $"{restorer.EvaluatedLanePositions} of {former}: agreeing draws were not shared");
    }

    /// <summary>The rearranged weights are cached per prior but rebuilt when a weight changes in place (also for a restorer that keeps its lanes).</summary>
    [Fact]
    public void WeightChangesAreSeen()
    {
        var cfg = Small(true);
        var prior = new PixelSnail(Cpu, cfg, 80);
        int hw = cfg.Height * cfg.Width;
        var codes = RandomCodes(hw, cfg.Codes, 81);
        var mask = Mask("all", hw, 0);
        AssertSame(prior, codes, mask, 2, 82, 1f);
        var kept = new CachedRestorer();   // keeps its lanes between calls: the second call must see the new weights
        var before = kept.Restore(prior, codes, mask, 2, 82, 1f);
        var w = prior.Out.Weight;
        var v = w.ToArray();
        for (int i = 0; i < v.Length; i++) v[i] *= 3f;
        var scaled = Tensor.FromArray(Cpu, v, w.Shape);
        Cpu.Axpby(scaled, w, 1f, 0f);   // w = scaled, in place
        AssertSame(prior, codes, mask, 2, 82, 1f);
        var after = kept.Restore(prior, codes, mask, 2, 82, 1f);
        Assert.NotEqual(before, after);
        Assert.Equal(new NaiveRestorer().Restore(prior, codes, mask, 2, 82, 1f), after);
    }

    [Fact]
    public void FactoryReturnsCachedRestorer() => Assert.IsType<CachedRestorer>(RestorerFactory.Fast());
    [Theory]
    [InlineData(3, 4, 8, 3, 5, true, 1)]      // H·W = 12 < 16: the per-plane sigmoid fallback
    [InlineData(4, 4, 130, 1, 3, true, 2)]    // 2C+2 = 262 > 256: the 1×1 and attention GEMMs span two K blocks
    [InlineData(4, 5, 8, 5, 7, false, 1)]     // 5×5 masked convs, 7-wide stem
    [InlineData(1, 7, 8, 3, 5, true, 2)]      // one row: every stem 'down' term is padding
    public void OddConfigsMatchNaive(int h, int w, int channels, int kernel, int stem, bool attention, int heads)
    {
        var cfg = new PixelSnailConfig
        {
            Codes = 9, Height = h, Width = w, Channels = channels, Blocks = 2, ResBlocks = 1, KernelSize = kernel,
            StemKernelSize = stem, Attention = attention, Heads = heads, StrictAttention = heads == 2, KeyDim = 4, ValueDim = 8,
        };
        var prior = new PixelSnail(Cpu, cfg, 60 + (ulong)channels);
        int hw = h * w;
        var codes = RandomCodes(hw, cfg.Codes, 61);
        AssertSame(prior, codes, Mask("all", hw, 0), 3, 62, 1f);
        AssertSame(prior, codes, Mask("scattered", hw, 63), 2, 64, 0.8f);
    }

    [Fact]
    public void BatchDoesNotChangePerImageLogits()
    {
        foreach (var cfg in new[] { new PixelSnailConfig(), Small(true, 2, true), Small(false) })
        {
            var prior = new PixelSnail(Cpu, cfg, 3);
            int hw = cfg.Height * cfg.Width;
            var codes = RandomCodes(3 * hw, cfg.Codes, 4);
            using var ng = Autograd.NoGrad();
            using var scope = new TensorScope();
            prior.Eval();
            var batched = prior.Logits(Tensor.FromArray(Cpu, codes, 3, cfg.Height, cfg.Width)).ToArray();
            int per = cfg.Codes * hw;
            for (int i = 0; i < 3; i++)
            {
                var single = prior.Logits(Tensor.FromArray(Cpu, codes.AsSpan(i * hw, hw), 1, cfg.Height, cfg.Width)).ToArray();
                Assert.True(single.AsSpan().SequenceEqual(batched.AsSpan(i * per, per)), $"batch changed image {i} logits for {cfg}");
            }
        }
    }

    [Fact]
    public void PeerConfigMatchesNaive()
    {
        var cfg = new PixelSnailConfig();
        var prior = new PixelSnail(Cpu, cfg, 21);
        var codes = RandomCodes(64, cfg.Codes, 22);
        var mask = new bool[64];
        foreach (int p in new[] { 3, 9, 10, 11, 18, 19, 20, 27, 28, 35, 36, 44, 50, 58, 63 }) mask[p] = true;
        AssertSame(prior, codes, mask, 3, 5, 1f);
    }

    [Theory]
    [InlineData(true, 1, false, 1f, "scattered", 1UL)]
    [InlineData(true, 1, false, 1f, "all", 2UL)]
    [InlineData(true, 1, false, 0.7f, "scattered", 3UL)]
    [InlineData(true, 2, true, 1f, "scattered", 4UL)]
    [InlineData(true, 2, true, 1.6f, "all", 5UL)]
    [InlineData(false, 1, false, 1f, "scattered", 6UL)]
    [InlineData(false, 1, false, 0.5f, "all", 7UL)]
    [InlineData(true, 1, false, 1f, "empty", 8UL)]
    [InlineData(true, 1, false, 1f, "first", 9UL)]
    [InlineData(true, 2, true, 1f, "last", 10UL)]
    public void SmallConfigsMatchNaive(bool attention, int heads, bool strict, float temperature, string mask, ulong seed)
    {
        var cfg = Small(attention, heads, strict);
        var prior = new PixelSnail(Cpu, cfg, 30 + (ulong)heads);
        int hw = cfg.Height * cfg.Width;
        var codes = RandomCodes(hw, cfg.Codes, (int)seed);
        AssertSame(prior, codes, Mask(mask, hw, (int)seed + 100), 4, seed, temperature);
    }

    [Fact]
    public void SeveralSeedsMatchNaiveAndDiffer()
    {
        var cfg = Small(true);
        var prior = new PixelSnail(Cpu, cfg, 40);
        int hw = cfg.Height * cfg.Width;
        var codes = RandomCodes(hw, cfg.Codes, 41);
        var mask = Mask("all", hw, 0);
        var seen = new List<int[]>();
        foreach (ulong seed in new ulong[] { 0, 1, 2, 12345 })
        {
            AssertSame(prior, codes, mask, 2, seed, 1f);
            seen.Add(new IncrementalRestorer().Restore(prior, codes, mask, 2, seed, 1f));
        }
        for (int i = 0; i < seen.Count; i++)
            for (int j = i + 1; j < seen.Count; j++)
                Assert.NotEqual(seen[i], seen[j]);
        // Restorations of one image differ from each other too (their streams differ).
        Assert.NotEqual(seen[0].AsSpan(0, hw).ToArray(), seen[0].AsSpan(hw, hw).ToArray());
    }

    [Fact]
    public void ZeroRestorationsAndLowTemperature()
    {
        var cfg = Small(true);
        var prior = new PixelSnail(Cpu, cfg, 50);
        int hw = cfg.Height * cfg.Width;
        var codes = RandomCodes(hw, cfg.Codes, 51);
        Assert.Empty(new IncrementalRestorer().Restore(prior, codes, Mask("all", hw, 0), 0, 1, 1f));
        // A very low temperature makes most redraws argmax: many draws keep the previous pass valid (skips).
        AssertSame(prior, codes, Mask("all", hw, 0), 3, 52, 0.05f);
    }
}
