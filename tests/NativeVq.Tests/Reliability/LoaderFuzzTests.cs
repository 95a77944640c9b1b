using System.Diagnostics;
using NativeVq.Data;
using NativeVq.Tests.Data;

namespace NativeVq.Tests.Reliability;

/// <summary>
/// Seeded random damage to valid files of every kind a user hands us: each outcome must be a decode or a
/// <see cref="UserError"/> that names the file, never another exception (issue 8).
/// </summary>
public sealed class LoaderFuzzTests
{
    private const int Mutations = 60;   // per file and loader: 420 in all, a few seconds

    /// <summary>1-4 random edits: flip a bit, set a random byte, cut the file short, or drop/duplicate a span.</summary>
    private static byte[] Mutate(byte[] good, Rng rng)
    {
        var b = new List<byte>(good);
        int edits = 1 + rng.NextInt(4);
        for (int e = 0; e < edits && b.Count > 0; e++)
        {
            int at = rng.NextInt(b.Count);
            switch (rng.NextInt(5))
            {
                case 0: b[at] ^= (byte)(1 << rng.NextInt(8)); break;
                case 1: b[at] = (byte)rng.NextInt(256); break;
                case 2: b.RemoveRange(at, b.Count - at); break;
                case 3: b.RemoveRange(at, Math.Min(b.Count - at, 1 + rng.NextInt(16))); break;
                default: b.InsertRange(at, b.GetRange(at, Math.Min(b.Count - at, 1 + rng.NextInt(16)))); break;
            }
        }
        return b.ToArray();
    }

    private static void Fuzz(string path, byte[] good, ulong seed, Action<string> load, int minRefused = Mutations / 10)
    {
        var rng = new Rng(seed);
        int decoded = 0, refused = 0;
        for (int i = 0; i < Mutations; i++)
        {
            File.WriteAllBytes(path, Mutate(good, rng));
            Exception? error = null;
            var attempt = Task.Run(() => { try { load(path); } catch (Exception e) { error = e; } });
            // A decoder stuck in a loop is a failure too (stb's JPEG header reader once spun on a cut-off segment).
            if (!attempt.Wait(TimeSpan.FromSeconds(20))) Assert.Fail($"mutation {i} of {Path.GetFileName(path)} (seed {seed}) hangs");
            if (error is null) { decoded++; continue; }
            if (error is not UserError) Assert.Fail($"mutation {i} of {Path.GetFileName(path)} (seed {seed}) raised {error.GetType().Name}: {error.Message}");
            refused++;
            Assert.True(error.Message.Contains(path), $"mutation {i}: the message does not name the file: {error.Message}");
            Assert.DoesNotContain('\n', error.Message);
        }
        Assert.True(refused >= minRefused, $"{Path.GetFileName(path)}: only {refused} of {Mutations} mutations were refused ({decoded} decoded)");
    }

    [Theory]
    [InlineData("png", 1UL)]
    [InlineData("jpg", 2UL)]
    [InlineData("bmp", 3UL)]
    public void DamagedImagesDecodeOrAreRefusedByName(string format, ulong seed)
    {
        using var d = new TempDir();
        var good = File.ReadAllBytes(TestImages.Write(d["good." + format], format, 12, 10, 3));
        var clock = Stopwatch.StartNew();
        Fuzz(d["fuzz." + format], good, seed, p =>
        {
            ImageIO.ReadInfo(p);
            ImageIO.LoadInto(p, new float[3 * 8 * 8], new ImageLoadOptions { Size = 8, Channels = 3, MaxPixels = 1 << 20 });
        });
        Assert.True(clock.Elapsed.TotalSeconds < 10, $"{clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void DamagedIdxFilesLoadOrAreRefusedByName()
    {
        using var d = new TempDir();
        var images = ReliabilityFiles.WriteIdx(d["idx"], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var labels = Path.Combine(d["idx"], "t-labels-idx1-ubyte");
        var goodImages = File.ReadAllBytes(images);
        var goodLabels = File.ReadAllBytes(labels);
        void Load(string _)
        {
            var ds = IdxDataset.Open(images, size: 4);
            for (int i = 0; i < ds.Count; i++) ds.Load(i, new float[16]);
        }
        Fuzz(images, goodImages, 4, Load);
        File.WriteAllBytes(images, goodImages);
        var rng = new Rng(5);
        for (int i = 0; i < Mutations; i++)
        {
            File.WriteAllBytes(labels, Mutate(goodLabels, rng));
            try { Load(images); }
            catch (UserError e) { Assert.True(e.Message.Contains(labels) || e.Message.Contains(images), e.Message); }
        }
    }

    [Fact]
    public void DamagedCheckpointsAreRefusedByName()
    {
        using var d = new TempDir();
        var path = d["m.nvq"];
        ReliabilityFiles.WriteCheckpoint(path);
        var good = File.ReadAllBytes(path);
        Fuzz(path, good, 6, p => NvqFile.Read(p));
        // The header-only read skips the checksum, so header damage reaches the JSON parser: still a named UserError.
        Fuzz(path, good, 7, p => NvqFile.ReadHeader(p), minRefused: 0);
    }
}
