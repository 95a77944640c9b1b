using System.Diagnostics;
using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Nn;
using NativeVq.Optim;
using NativeVq.Tests.Support;
using Xunit.Abstractions;

namespace NativeVq.Tests.Models;

public sealed class PixelSnailTests(ITestOutputHelper output)
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    /// <summary>Uploads every parameter and buffer of <paramref name="m"/> from the golden tensor of the same name.</summary>
    private static void LoadByName(GoldenCase g, Module m)
    {
        foreach (var (name, t) in m.NamedParameters().Concat(m.NamedBuffers()))
        {
            Assert.True(g.Has(name), $"golden case has no tensor {name}");
            var gt = g.T[name];
            Assert.True(ShapeUtil.Same(gt.Shape, t.Shape), $"{name}: golden {ShapeUtil.Format(gt.Shape)} vs model {ShapeUtil.Format(t.Shape)}");
            t.Backend.Upload(gt.F!, t.Memory);
        }
    }

    [Fact]
    public void GoldenFullModel()
    {
        var g = new GoldenCase("pixelsnail");
        var p = g.Params;
        var cfg = new PixelSnailConfig
        {
            Codes = p.GetProperty("K").GetInt32(), Channels = p.GetProperty("channels").GetInt32(),
            Blocks = p.GetProperty("stages").GetInt32(), ResBlocks = p.GetProperty("res_blocks").GetInt32(),
            KeyDim = p.GetProperty("dk").GetInt32(), ValueDim = p.GetProperty("dv").GetInt32(),
        };
        var model = new PixelSnail(Cpu, cfg, seed: 1);
        Assert.Equal(p.GetProperty("n_parameters").GetInt64(), model.ParameterCount());
        // The state dict lists exactly our names (params and buffers), and the golden bg equals the one we build.
        var ours = model.NamedParameters().Concat(model.NamedBuffers()).Select(x => x.Name).OrderBy(x => x, StringComparer.Ordinal).ToArray();
        var theirs = p.GetProperty("state_dict").EnumerateArray().Select(e => e[0].GetString()!).OrderBy(x => x, StringComparer.Ordinal).ToArray();
        Assert.Equal(theirs, ours);
        g.AssertClose("bg", model.Background);
        LoadByName(g, model);

        using var scope = new TensorScope();
        var codes = g.Load(Cpu, "codes");
        var acts = new List<Tensor>();
        var logits = model.Logits(codes, acts);
        g.AssertClose("h_stem", acts[0]);
        g.AssertClose("stage0_out", acts[1]);
        g.AssertClose("stage1_out", acts[2]);
        g.AssertClose("logits", logits);
        var loss = F.CrossEntropy(logits, codes);
        g.AssertClose("loss", loss);
        model.ZeroGrad();
        loss.Backward();
        int grads = 0;
        foreach (var (name, t) in model.NamedParameters())
        {
            g.AssertGrad(name, t);
            grads++;
        }
        Assert.Equal(62, grads);
        Assert.Equal(62, g.T.Keys.Count(k => k.StartsWith("grad:", StringComparison.Ordinal)));
        g.AssertClose("nll_map", model.NllMap(codes));
        Assert.Equal(loss.Item(), model.Loss(codes).Item());
    }

    [Theory]
    [InlineData("masked_conv_down")]
    [InlineData("masked_conv_downright")]
    public void GoldenStemConv(string name)
    {
        var g = new GoldenCase(name);
        var k = g.Params.GetProperty("kernel_size").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var pad = g.Params.GetProperty("pad_left_right_top_bottom").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int cin = g.Params.GetProperty("in_channels").GetInt32(), cout = g.Params.GetProperty("out_channels").GetInt32();
        var conv = new MaskedConv(Cpu, new Rng(3), cin, cout, k[0], k[1], (pad[0], pad[1], pad[2], pad[3]));
        LoadByName(g, conv);
        using var scope = new TensorScope();
        var x = g.Load(Cpu, "x", requiresGrad: true);
        var y = conv.Forward(x);
        var outp = g.Params.GetProperty("post").GetString() == "down_shift" ? F.DownShift(y) : F.RightShift(y);
        g.AssertClose("out", outp);
        outp.Backward(g.Load(Cpu, "upstream:out"));
        g.AssertGrad("x", x);
        g.AssertGrad("conv.weight", conv.Conv.Weight);
        g.AssertGrad("conv.bias", conv.Conv.Bias!);
    }

    [Fact]
    public void GoldenMaskedConv3x3Module()
    {
        var g = new GoldenCase("masked_conv3x3");
        var conv = MaskedConv.Causal(Cpu, new Rng(4), 7, 4, 3);
        Assert.Equal(g.T["mask"].F, conv.Mask!.ToArray()); // our mask is the peer's before loading
        LoadByName(g, conv);
        using var scope = new TensorScope();
        var x = g.Load(Cpu, "x", requiresGrad: true);
        var outp = conv.Forward(x);
        g.AssertClose("out", outp);
        outp.Backward(g.Load(Cpu, "upstream:out"));
        g.AssertGrad("x", x);
        g.AssertGrad("conv.weight", conv.Conv.Weight);
        g.AssertGrad("conv.bias", conv.Conv.Bias!);
    }

    [Fact]
    public void GoldenStem()
    {
        var g = new GoldenCase("pixelsnail_stem");
        var model = new PixelSnail(Cpu, new PixelSnailConfig { Codes = 7, Channels = 4, Height = 6, Width = 6, Blocks = 1, ResBlocks = 0, KeyDim = 2, ValueDim = 2 }, 5);
        foreach (var m in new[] { ("down", (Module)model.Down), ("downright", model.DownRight) })
            foreach (var (name, t) in m.Item2.NamedParameters())
                t.Backend.Upload(g.T[m.Item1 + "." + name].F!, t.Memory);
        using var scope = new TensorScope();
        var x = g.Load(Cpu, "x", requiresGrad: true);
        var outp = model.Stem(x);
        g.AssertClose("out", outp);
        // The one-hot of the stored codes is the stored x.
        Assert.Equal(g.T["x"].F, F.OneHot(g.Load(Cpu, "codes"), 7).ToArray());
        outp.Backward(g.Load(Cpu, "upstream:out"));
        g.AssertGrad("x", x);
        g.AssertGrad("down.conv.weight", model.Down.Conv.Weight);
        g.AssertGrad("down.conv.bias", model.Down.Conv.Bias!);
        g.AssertGrad("downright.conv.weight", model.DownRight.Conv.Weight);
        g.AssertGrad("downright.conv.bias", model.DownRight.Conv.Bias!);
    }

    [Fact]
    public void DefaultConfigHasThePeersParameterCount()
    {
        var model = new PixelSnail(Cpu, new PixelSnailConfig(), 0);
        Assert.Equal(723_664, model.ParameterCount());
        Assert.Equal(62, model.NamedParameters().Count());
        Assert.Equal(9, model.NamedBuffers().Count()); // bg + 8 masks
    }

    [Fact]
    public void LargerPresetBuildsAndRunsOn16x16()
    {
        var cfg = PixelSnailConfig.Larger(16, 16, 16);
        Assert.Equal(cfg, PixelSnailConfig.ForGrid(16, 16, 16));
        var model = new PixelSnail(Cpu, cfg, 0);
        using var scope = new TensorScope();
        var codes = Tensor.FromArray(Cpu, Enumerable.Range(0, 256).Select(i => i % 16).ToArray(), 1, 16, 16);
        var nll = model.NllMap(codes);
        Assert.Equal(new[] { 1, 16, 16 }, nll.Shape);
        Assert.All(nll.ToArray(), v => Assert.True(float.IsFinite(v) && v > 0));
    }

    [Theory]
    [InlineData(nameof(PixelSnailConfig.Codes))]
    [InlineData(nameof(PixelSnailConfig.KernelSize))]
    [InlineData(nameof(PixelSnailConfig.Heads))]
    [InlineData(nameof(PixelSnailConfig.Dropout))]
    [InlineData(nameof(PixelSnailConfig.Blocks))]
    public void InvalidConfigThrowsUserErrorNamingTheOption(string option)
    {
        var (cfg, expect) = option switch
        {
            nameof(PixelSnailConfig.Codes) => (new PixelSnailConfig { Codes = 1 }, "--codes"),
            nameof(PixelSnailConfig.KernelSize) => (new PixelSnailConfig { KernelSize = 4 }, "--prior-kernel"),
            nameof(PixelSnailConfig.Heads) => (new PixelSnailConfig { Heads = 3 }, "--prior-heads"),
            nameof(PixelSnailConfig.Dropout) => (new PixelSnailConfig { Dropout = 1f }, "--prior-dropout"),
            _ => (new PixelSnailConfig { Blocks = 0 }, "--prior-blocks"),
        };
        var e = Assert.Throws<UserError>(() => new PixelSnail(Cpu, cfg, 0));
        Assert.Contains(expect, e.Message);
    }

    /// <summary>
    /// design.md §1.2's hard property: changing the code at raster position p leaves the logits at every position
    /// ≤ p bit-identical (and a second image in the batch untouched); with attention some later position changes.
    /// </summary>
    [Theory]
    [InlineData(true, 1, false, 0f)]
    [InlineData(false, 1, false, 0f)]
    [InlineData(true, 2, true, 0f)]
    [InlineData(true, 2, false, 0.2f)]  // dropout in training mode: masks are a function of (seed, index), still causal
    public void LogitsAreCausal(bool attention, int heads, bool strict, float dropout)
    {
        const int k = 7, h = 5, w = 6, n = h * w;
        var cfg = new PixelSnailConfig
        {
            Codes = k, Height = h, Width = w, Channels = 8, Blocks = 2, ResBlocks = 2, Attention = attention,
            Heads = heads, StrictAttention = strict, KeyDim = 4, ValueDim = 8, Dropout = dropout,
        };
        var model = new PixelSnail(Cpu, cfg, 11);
        var rng = new Random(12);
        var baseCodes = Enumerable.Range(0, 2 * n).Select(_ => rng.Next(k)).ToArray();
        float[] Run(int[] c)
        {
            using var scope = new TensorScope();
            using var ng = Autograd.NoGrad();
            model.DropoutCounter = 0; // the same dropout masks on every run
            return model.Logits(Tensor.FromArray(Cpu, c, 2, h, w)).ToArray();
        }
        var reference = Run(baseCodes);
        for (int p = 0; p < n; p++)
        {
            var c = (int[])baseCodes.Clone();
            c[p] = (c[p] + 1 + rng.Next(k - 1)) % k;
            var got = Run(c);
            bool laterChanged = false;
            for (int ch = 0; ch < k; ch++)
            {
                for (int q = 0; q < n; q++)
                {
                    int i0 = ch * n + q;                  // image 0
                    if (q <= p) Assert.True(BitConverter.SingleToInt32Bits(got[i0]) == BitConverter.SingleToInt32Bits(reference[i0]),
                        $"logit {ch} at position {q} changed when the code at {p} changed");
                    else laterChanged |= got[i0] != reference[i0];
                    int i1 = (k + ch) * n + q;            // image 1: untouched
                    Assert.Equal(BitConverter.SingleToInt32Bits(reference[i1]), BitConverter.SingleToInt32Bits(got[i1]));
                }
            }
            if (attention && p < n - 1) Assert.True(laterChanged, $"no position after {p} reacts to the code at {p}");
        }
    }

    [Fact]
    public void DropoutIsReproducibleAndOffInEval()
    {
        var cfg = new PixelSnailConfig { Codes = 5, Height = 4, Width = 4, Channels = 8, Blocks = 1, ResBlocks = 1, KeyDim = 4, ValueDim = 8, Dropout = 0.3f };
        var codes = Tensor.FromArray(Cpu, Enumerable.Range(0, 32).Select(i => (i * 7) % 5).ToArray(), 2, 4, 4);
        float Loss(PixelSnail m) { using var s = new TensorScope(); return m.Loss(codes).Item(); }
        var a = new PixelSnail(Cpu, cfg, 3);
        var b = new PixelSnail(Cpu, cfg, 3);
        float a1 = Loss(a), a2 = Loss(a);
        Assert.Equal(a1, Loss(b));
        Assert.Equal(a2, Loss(b));
        Assert.NotEqual(a1, a2);                       // a new mask every call
        a.Eval();
        Assert.Equal(Loss(a), Loss(a));                // no dropout in eval
        using var scope = new TensorScope();
        b.Train();
        var nll = b.NllMap(codes).ToArray();           // scoring ignores dropout even in training mode
        Assert.Equal(nll, b.NllMap(codes).ToArray());
        Assert.True(b.Training);
    }

    /// <summary>
    /// Tiny overfit: 4 fixed 4×4 maps whose first codes differ and which are otherwise determined by their first code.
    /// Position 0 sees no context, so its NLL cannot go below the entropy of the first code (ln 4 for a uniform
    /// mix, the bound any causal model has); every later position must be learned: mean NLL there &lt; 0.05 nats.
    /// </summary>
    [Fact]
    public void OverfitsAFewFixedMaps()
    {
        const int k = 8, s = 4, maps = 4;
        var rng = new Random(21);
        var data = new int[maps * s * s];
        for (int m = 0; m < maps; m++)
            for (int q = 0; q < s * s; q++) data[m * s * s + q] = q == 0 ? 2 * m : rng.Next(k);
        var cfg = new PixelSnailConfig { Codes = k, Height = s, Width = s, Channels = 16, Blocks = 1, ResBlocks = 1, KeyDim = 8, ValueDim = 16 };
        var model = new PixelSnail(Cpu, cfg, 22);
        using var adam = new Adam(model.Parameters(), lr: 3e-3f);
        var codes = Tensor.FromArray(Cpu, data, maps, s, s);
        var sw = Stopwatch.StartNew();
        int step;
        for (step = 0; step < 600; step++)
        {
            using var scope = new TensorScope();
            adam.ZeroGrad();
            model.Loss(codes).Backward();
            adam.Step();
        }
        model.Eval();
        float[] nll;
        using (var scope = new TensorScope()) nll = model.NllMap(codes).ToArray();
        double first = 0, rest = 0;
        for (int m = 0; m < maps; m++)
            for (int q = 0; q < s * s; q++)
                if (q == 0) first += nll[m * s * s] / maps; else rest += nll[m * s * s + q] / (maps * (s * s - 1));
        output.WriteLine($"{step} steps in {sw.Elapsed.TotalSeconds:F1} s: NLL position 0 {first:F4} (ln 4 = {Math.Log(4):F4}), later positions {rest:F5}");
        Assert.True(rest < 0.05, $"mean NLL after the first position {rest}");
        Assert.True(Math.Abs(first - Math.Log(4)) < 0.05, $"NLL at position 0 {first}");
    }
}
