using System.Buffers.Binary;
using System.Text.Json;

namespace NativeVq.Tests.Support;

public sealed record GoldenTensor(string Name, string Role, int[] Shape, float[]? F, int[]? I, double Atol);

/// <summary>Reads a case of tests/fixtures/golden (format in its README) and compares results with its tolerance.</summary>
public sealed class GoldenCase
{
    public JsonElement Meta { get; }
    public Dictionary<string, GoldenTensor> T { get; } = new();
    public double Rtol { get; }

    public GoldenCase(string name)
    {
        var dir = Paths.Golden;
        Meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, name + ".json"))).RootElement.Clone();
        Rtol = Meta.GetProperty("tolerance").GetProperty("rtol").GetDouble();
        var blobs = new Dictionary<string, byte[]>();
        foreach (var e in Meta.GetProperty("tensors").EnumerateArray())
        {
            string file = e.GetProperty("file").GetString()!;
            if (!blobs.TryGetValue(file, out var bytes)) blobs[file] = bytes = File.ReadAllBytes(Path.Combine(dir, file));
            int offset = e.GetProperty("offset").GetInt32(), n = e.GetProperty("numel").GetInt32();
            var src = bytes.AsSpan(offset, 4 * n);
            float[]? f = null;
            int[]? i = null;
            if (e.GetProperty("dtype").GetString() == "float32")
            {
                f = new float[n];
                for (int k = 0; k < n; k++) f[k] = BinaryPrimitives.ReadSingleLittleEndian(src.Slice(4 * k));
            }
            else
            {
                i = new int[n];
                for (int k = 0; k < n; k++) i[k] = BinaryPrimitives.ReadInt32LittleEndian(src.Slice(4 * k));
            }
            int[] shape = e.GetProperty("shape").EnumerateArray().Select(s => s.GetInt32()).ToArray();
            double atol = e.TryGetProperty("atol", out var a) ? a.GetDouble() : 0;
            string nm = e.GetProperty("name").GetString()!;
            T[nm] = new GoldenTensor(nm, e.GetProperty("role").GetString()!, shape, f, i, atol);
        }
    }

    public JsonElement Params => Meta.GetProperty("params");

    public bool Has(string name) => T.ContainsKey(name);

    /// <summary>The stored tensor uploaded to <paramref name="backend"/>.</summary>
    public Tensor Load(Backend backend, string name, bool requiresGrad = false)
    {
        var g = T[name];
        var t = g.F is not null ? Tensor.FromArray(backend, g.F, g.Shape) : Tensor.FromArray(backend, g.I!, g.Shape);
        t.RequiresGrad = requiresGrad;
        return t;
    }

    /// <summary>Asserts |actual − expected| ≤ atol + rtol·|expected| elementwise (fails on NaN).</summary>
    public void AssertClose(string name, Tensor actual)
    {
        var e = T[name];
        Assert.Equal(ShapeUtil.Numel(e.Shape), actual.Numel);
        if (e.I is not null)
        {
            Assert.Equal(e.I, actual.ToIntArray());
            return;
        }
        var a = actual.ToArray();
        for (int k = 0; k < a.Length; k++)
        {
            double exp = e.F![k], d = Math.Abs(a[k] - exp);
            if (!(d <= e.Atol + Rtol * Math.Abs(exp)))
                Assert.Fail($"{name}[{k}]: got {a[k]:R}, expected {exp:R} (|diff| {d:E2} > atol {e.Atol:E2} + rtol {Rtol:E1}·|expected|)");
        }
    }

    /// <summary>Compares the gradient stored as grad:<paramref name="name"/> with <paramref name="t"/>.Grad.</summary>
    public void AssertGrad(string name, Tensor t)
    {
        Assert.True(t.Grad is not null, $"no gradient reached {name}");
        AssertClose("grad:" + name, t.Grad!);
    }
}
