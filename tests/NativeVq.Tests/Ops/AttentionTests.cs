using NativeVq.Cpu;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Ops;

public sealed class AttentionTests
{
    private static readonly Backend Cpu = CpuBackend.Instance;

    private static readonly string[] Params = ["q.weight", "q.bias", "k.weight", "k.bias", "v.weight", "v.bias"];

    [Theory]
    [InlineData("attention_causal")]
    [InlineData("attention_causal_2head_strict")]
    public void Golden(string name)
    {
        var g = new GoldenCase(name);
        int heads = g.Params.GetProperty("heads").GetInt32();
        bool strict = g.Params.GetProperty("mask").GetString()!.StartsWith("t < s");
        using var scope = new TensorScope();
        var query = g.Load(Cpu, "query", requiresGrad: true);
        var key = g.Load(Cpu, "key", requiresGrad: true);
        var p = Params.Select(n => g.Load(Cpu, n, requiresGrad: true)).ToArray();
        var outp = F.CausalAttention(query, key, p[0], p[1], p[2], p[3], p[4], p[5], heads, strict);
        g.AssertClose("out", outp);
        outp.Backward(g.Load(Cpu, "upstream:out"));
        g.AssertGrad("query", query);
        g.AssertGrad("key", key);
        for (int i = 0; i < Params.Length; i++) g.AssertGrad(Params[i], p[i]);
    }

    [Theory]
    [InlineData(1, 3, 3, 1, false)]   // batch 1, N = 9 (odd)
    [InlineData(1, 3, 3, 2, true)]
    [InlineData(2, 3, 5, 2, false)]   // N = 15
    [InlineData(2, 1, 5, 1, true)]
    public void GradientMatchesFiniteDifferences(int b, int h, int w, int heads, bool strict)
    {
        var query = GradCheck.Random(Cpu, 61, b, 3, h, w);
        var key = GradCheck.Random(Cpu, 62, b, 5, h, w);
        var wq = GradCheck.Random(Cpu, 63, 4, 3);
        var bq = GradCheck.Random(Cpu, 64, 4);
        var wk = GradCheck.Random(Cpu, 65, 4, 5);
        var bk = GradCheck.Random(Cpu, 66, 4);
        var wv = GradCheck.Random(Cpu, 67, 6, 5);
        var bv = GradCheck.Random(Cpu, 68, 6);
        GradCheck.Check(t => F.CausalAttention(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], heads, strict),
            [query, key, wq, bq, wk, bk, wv, bv], maxChecksPerInput: 30);
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    public void CoreGradientMatchesFiniteDifferences(int heads, bool strict)
    {
        var q = GradCheck.Random(Cpu, 71, 2, 4, 7);
        var k = GradCheck.Random(Cpu, 72, 2, 4, 7);
        var v = GradCheck.Random(Cpu, 73, 2, 6, 7);
        GradCheck.Check(t => F.CausalAttentionCore(t[0], t[1], t[2], heads, strict), [q, k, v]);
    }

    /// <summary>
    /// Output at position i must not depend on keys/values at positions ≥ i (strict) or > i: changing them
    /// leaves every output at positions ≤ i bit-identical.
    /// </summary>
    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 1)]
    [InlineData(true, 2)]
    public void OutputIsCausal(bool strict, int heads)
    {
        int h = 4, w = 5, n = h * w;
        var rng = new Random(81);
        var query = GradCheck.Random(Cpu, 82, 1, 3, h, w);
        var keyData = GradCheck.Random(Cpu, 83, 1, 5, h, w).ToArray();
        var wq = GradCheck.Random(Cpu, 84, 4, 3); var bq = GradCheck.Random(Cpu, 85, 4);
        var wk = GradCheck.Random(Cpu, 86, 4, 5); var bk = GradCheck.Random(Cpu, 87, 4);
        var wv = GradCheck.Random(Cpu, 88, 6, 5); var bv = GradCheck.Random(Cpu, 89, 6);
        float[] Run(float[] kd)
        {
            using var _ = Autograd.NoGrad();
            return F.CausalAttention(query, Tensor.FromArray(Cpu, kd, 1, 5, h, w), wq, bq, wk, bk, wv, bv, heads, strict).ToArray();
        }
        var baseOut = Run(keyData);
        foreach (int i in new[] { 0, 1, 7, 13, n - 1 })
        {
            var changed = (float[])keyData.Clone();
            int first = strict ? i : i + 1;
            for (int c = 0; c < 5; c++)
                for (int p = first; p < n; p++) changed[c * n + p] = (float)(rng.NextDouble() * 4 - 2);
            var o = Run(changed);
            for (int c = 0; c < 6; c++)
                for (int p = 0; p <= i; p++)
                    Assert.True(BitConverter.SingleToInt32Bits(baseOut[c * n + p]) == BitConverter.SingleToInt32Bits(o[c * n + p]),
                        $"position {p} changed when keys from {first} on changed (channel {c})");
            if (first < n - 1)
                Assert.Contains(Enumerable.Range(first + 1, n - first - 1), p => o[p] != baseOut[p]);
        }
        // Strict: position 0 attends to nothing, so its output is exactly 0 (not the v bias).
        if (strict)
            for (int c = 0; c < 6; c++) Assert.Equal(0f, baseOut[c * n]);
    }
}
