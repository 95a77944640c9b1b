using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Data;

namespace NativeVq.Tests.Data;

public sealed class NvqFileTests
{
    private static readonly Backend B = CpuBackend.Instance;

    private static List<(string, Tensor)> Model(int width = 3)
    {
        var rng = new Rng(3);
        var w = TensorScope.Unscoped(() => Tensor.FromArray(B, Enumerable.Range(0, 2 * width).Select(_ => rng.Normal()).ToArray(), 2, width));
        var b = TensorScope.Unscoped(() => Tensor.FromArray(B, new float[] { 1.5f, -2.25f }, 2));
        var codes = TensorScope.Unscoped(() => Tensor.FromArray(B, new[] { 7, -1, 0, int.MaxValue, 5 }, 5));
        var empty = TensorScope.Unscoped(() => Tensor.Empty(B, 0, 4));
        return [("enc.weight", w), ("enc.bias", b), ("codes", codes), ("empty", empty)];
    }

    private static void Write(string path, List<(string, Tensor)> tensors)
        => NvqFile.Write(path, "vqvae", new JsonObject { ["channels"] = 1, ["hidden"] = new JsonArray(32, 64) }, tensors,
            new JsonObject { ["step"] = 1234, ["rng"] = new JsonArray(1UL, 2UL, ulong.MaxValue, 4UL) });

    [Fact]
    public void RoundTrip()
    {
        using var d = new TempDir();
        var path = d["ck/model.nvq"];
        var src = Model();
        Write(path, src);
        Assert.False(File.Exists(path + ".tmp"));
        var ck = NvqFile.Read(path);
        Assert.Equal("vqvae", ck.Kind);
        Assert.Equal(1u, ck.Version);
        Assert.Equal(64, (int)ck.Config["hidden"]![1]!);
        Assert.Equal(1234, (int)ck.Training["step"]!);
        Assert.Equal(ulong.MaxValue, (ulong)ck.Training["rng"]![2]!);
        Assert.Equal(["enc.weight", "enc.bias", "codes", "empty"], ck.Tensors.Select(t => t.Name));
        Assert.Equal(((Tensor)src[0].Item2).ToArray(), ck.ByName["enc.weight"].F32);
        Assert.Equal([7, -1, 0, int.MaxValue, 5], ck.ByName["codes"].I32!);
        Assert.Equal([0, 4], ck.ByName["empty"].Shape);

        var dst = Model(); // same shapes, fresh tensors: overwrite them
        foreach (var (_, t) in dst) if (t.DType == DType.F32 && t.Numel > 0) B.Fill(t, 0f);
        ck.LoadInto(dst);
        Assert.Equal(((Tensor)src[0].Item2).ToArray(), ((Tensor)dst[0].Item2).ToArray());
        Assert.Equal([1.5f, -2.25f], ((Tensor)dst[1].Item2).ToArray());

        // Header only: names and shapes without payload.
        var h = NvqFile.ReadHeader(path);
        Assert.Equal([2, 3], h.ByName["enc.weight"].Shape);
        Assert.Null(h.ByName["enc.weight"].F32);
        // Payload alignment.
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(0L, (16L + BitConverter.ToUInt32(bytes, 12)) % NvqFile.Alignment);
        // Deterministic bytes.
        Write(d["again.nvq"], src);
        Assert.Equal(bytes, File.ReadAllBytes(d["again.nvq"]));
    }

    [Fact]
    public void DamagedFilesAreUserErrors()
    {
        using var d = new TempDir();
        var path = d["m.nvq"];
        Write(path, Model());
        var good = File.ReadAllBytes(path);
        void Expect(byte[] bytes, string fragment)
        {
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<UserError>(() => NvqFile.Read(path));
            Assert.Contains(path, e.Message);
            Assert.Contains(fragment, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        foreach (int cut in new[] { 3, 10, 40, good.Length / 2, good.Length - 1 })
            Expect(good[..cut], "truncated");
        var c = (byte[])good.Clone(); c[^40] ^= 1; Expect(c, "checksum");
        c = (byte[])good.Clone(); c[0] = (byte)'P'; Expect(c, "bad magic");
        c = (byte[])good.Clone(); c[8] = 2; Expect(c, "version 2");
        c = (byte[])good.Clone(); c[30] ^= 0x20; Expect(c, "");  // header damage: JSON error or checksum
        Expect([.. good, 0], "unexpected bytes");
        File.Delete(path);
        Assert.Contains("not found", Assert.Throws<UserError>(() => NvqFile.Read(path)).Message);
    }

    [Fact]
    public void ShapeMismatchMissingAndExtraTensors()
    {
        using var d = new TempDir();
        var path = d["m.nvq"];
        Write(path, Model());
        var ck = NvqFile.Read(path);
        var e = Assert.Throws<UserError>(() => ck.LoadInto(Model(width: 4)));
        Assert.Contains("enc.weight", e.Message);
        Assert.Contains("[2,3] in the file", e.Message);
        Assert.Contains("wrong architecture", e.Message);

        var fewer = Model().Take(2).ToList();
        e = Assert.Throws<UserError>(() => ck.LoadInto(fewer));
        Assert.Contains("unexpected tensors codes, empty", e.Message);
        ck.LoadInto(fewer, strict: false);

        var more = Model().Append(("dec.weight", TensorScope.Unscoped(() => Tensor.Zeros(B, 2)))).ToList();
        e = Assert.Throws<UserError>(() => ck.LoadInto(more));
        Assert.Contains("missing tensors dec.weight", e.Message);
        ck.LoadInto(more, strict: false);

        Assert.Contains("'vqvae'", Assert.Throws<UserError>(() => NvqFile.LoadInto(path, Model(), kind: "pixelsnail")).Message);
        // Nothing is written when any check fails.
        var target = Model(width: 4);
        var before = ((Tensor)target[1].Item2).ToArray();
        B.Fill((Tensor)target[1].Item2, 9f);
        Assert.Throws<UserError>(() => ck.LoadInto(target));
        Assert.All(((Tensor)target[1].Item2).ToArray(), v => Assert.Equal(9f, v));
    }

    [Fact]
    public void FailedWriteLeavesNoPartialFile()
    {
        using var d = new TempDir();
        var path = d["m.nvq"];
        var tensors = Model();
        // Fails before the file is opened: enumerating the tensors throws.
        IEnumerable<(string, Tensor)> Throwing() { yield return tensors[0]; throw new InvalidOperationException("boom"); }
        Assert.Throws<InvalidOperationException>(() => NvqFile.Write(path, "vqvae", null, Throwing(), null));
        Assert.False(File.Exists(path)); Assert.False(File.Exists(path + ".tmp"));

        // Fails half-way through the payload (a disposed tensor): an existing checkpoint stays intact.
        Write(path, tensors);
        var old = File.ReadAllBytes(path);
        var broken = Model();
        ((Tensor)broken[2].Item2).Dispose();
        Assert.Throws<InvalidOperationException>(() => Write(path, broken));
        Assert.Equal(old, File.ReadAllBytes(path));
        Assert.False(File.Exists(path + ".tmp"));
        NvqFile.Read(path);

        Assert.Throws<ArgumentException>(() => Write(d["dup.nvq"], [tensors[0], tensors[0]]));
        Assert.False(File.Exists(d["dup.nvq"]));
    }
}
