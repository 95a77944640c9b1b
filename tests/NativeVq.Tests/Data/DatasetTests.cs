using System.Buffers.Binary;
using System.IO.Compression;
using NativeVq.Data;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Data;

public sealed class DatasetTests
{
    private static string MnistDir => Paths.Mnist;

    [Fact]
    public void FolderIsRecursiveSortedAndFiltered()
    {
        using var d = new TempDir();
        foreach (var rel in new[] { "b/2.png", "a.bmp", "b/10.jpg", "B.JPEG", "c/d/e.png" })
            TestImages.Write(d[rel], Path.GetExtension(rel).ToLowerInvariant() switch { ".bmp" => "bmp", ".png" => "png", _ => "jpg" }, 12, 10, 3);
        File.WriteAllText(d["notes.txt"], "x");
        var notices = new List<string>();
        var ds = new FolderDataset(d.Path, new ImageLoadOptions { Size = 8, Channels = 1 }, notices.Add);
        Assert.Equal(["B.JPEG", "a.bmp", "b/10.jpg", "b/2.png", "c/d/e.png"], Enumerable.Range(0, ds.Count).Select(ds.NameOf));
        Assert.All(Enumerable.Range(0, ds.Count), i => Assert.Equal(-1, ds.LabelOf(i)));
        var buf = new float[64];
        for (int i = 0; i < ds.Count; i++) ds.Load(i, buf);
        Assert.Single(notices); // conversion reported once
        Assert.Contains("RGB to grayscale", notices[0]);
    }

    [Fact]
    public void FolderErrors()
    {
        using var d = new TempDir();
        var e = Assert.Throws<UserError>(() => new FolderDataset(d["nope"], new ImageLoadOptions()));
        Assert.Contains("folder not found", e.Message);
        Directory.CreateDirectory(d["empty/sub"]);
        File.WriteAllText(d["empty/sub/readme.txt"], "");
        e = Assert.Throws<UserError>(() => new FolderDataset(d["empty"], new ImageLoadOptions()));
        Assert.Contains("no images", e.Message);
        Assert.Throws<UserError>(() => new FolderDataset(d.Path, new ImageLoadOptions { Channels = 2 }));
        // A damaged file in a dataset names itself.
        TestImages.Write(d["x/ok.png"], "png", 8, 8, 1);
        File.WriteAllBytes(d["x/bad.png"], File.ReadAllBytes(d["x/ok.png"])[..40]);
        var ds = new FolderDataset(d["x"], new ImageLoadOptions { Size = 8 });
        e = Assert.Throws<UserError>(() => ds.Load(0, new float[64]));
        Assert.Contains("bad.png", e.Message);
    }

    private static string MakeMvtec(TempDir d)
    {
        var root = d["bottle"];
        for (int i = 0; i < 3; i++) TestImages.Write(Path.Combine(root, "train", "good", $"{i:000}.png"), "png", 40, 40, 3);
        TestImages.Write(Path.Combine(root, "test", "good", "000.png"), "png", 40, 40, 3);
        foreach (var defect in new[] { "crack", "broken_large" })
            for (int i = 0; i < 2; i++)
            {
                TestImages.Write(Path.Combine(root, "test", defect, $"{i:000}.png"), "png", 40, 40, 3);
                var mask = new byte[40 * 40];
                for (int y = 10; y < 20; y++) for (int x = 20; x < 40; x++) mask[y * 40 + x] = 255;
                TestImages.Write(Path.Combine(root, "ground_truth", defect, $"{i:000}_mask.png"), "png", 40, 40, 1, mask);
            }
        return root;
    }

    [Fact]
    public void MvtecTree()
    {
        using var d = new TempDir();
        var root = MakeMvtec(d);
        var opt = new ImageLoadOptions { Size = 20, Channels = 3 };
        var train = MvtecDataset.Train(root, opt);
        Assert.Equal(3, train.Count);
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(0, train.LabelOf(i)));
        var test = MvtecDataset.Test(root, opt);
        Assert.Equal(5, test.Count);
        Assert.Equal(["test/broken_large/000.png", "test/broken_large/001.png", "test/crack/000.png", "test/crack/001.png", "test/good/000.png"],
            Enumerable.Range(0, 5).Select(test.NameOf));
        Assert.Equal([1, 1, 1, 1, 0], Enumerable.Range(0, 5).Select(test.LabelOf));
        Assert.Equal("crack", test.DefectOf(2));
        var m = test.LoadMask(2);
        Assert.All(m, v => Assert.True(v is 0f or 1f));
        Assert.Equal(10 * 5, (int)m.Sum()); // rows 10..19 → 5..9, cols 20..39 → 10..19 at half size
        Assert.Equal(1f, m[5 * 20 + 10]); Assert.Equal(0f, m[4 * 20 + 10]); Assert.Equal(0f, m[5 * 20 + 9]);
        Assert.All(test.LoadMask(4), v => Assert.Equal(0f, v)); // good
        test.Load(0, new float[3 * 20 * 20]);
        Assert.Same(typeof(MvtecDataset), DatasetFactory.Open(root, new DatasetOptions { Size = 16 }).GetType());
        Assert.Equal(3, DatasetFactory.Open(root, new DatasetOptions { Size = 16 }).Channels); // detected RGB
        Assert.Equal(5, DatasetFactory.Open(root, new DatasetOptions { Size = 16, Split = "test" }).Count);
        // Pointing at the root of several categories names them.
        var e = Assert.Throws<UserError>(() => MvtecDataset.Train(d.Path, opt));
        Assert.Contains("bottle", e.Message);
        File.Delete(Path.Combine(root, "ground_truth", "crack", "001_mask.png"));
        e = Assert.Throws<UserError>(() => test.LoadMask(3));
        Assert.Contains("mask missing", e.Message);
    }

    [Fact]
    public void MnistIdx()
    {
        var ds = IdxDataset.Open(MnistDir);
        Assert.Equal(10000, ds.Count);
        Assert.Equal((1, 32, IdxFit.Pad), (ds.Channels, ds.Size, ds.Fit));
        var counts = new int[10];
        for (int i = 0; i < ds.Count; i++) counts[ds.LabelOf(i)]++;
        Assert.Equal([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978], counts);

        // First image: compare with the raw bytes, check the 2-pixel black frame.
        var raw = Gunzip(Path.Combine(MnistDir, "mnist10k-images-idx3-ubyte.gz"));
        var img = ds.Load(0);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
            {
                bool inside = y >= 2 && y < 30 && x >= 2 && x < 30;
                float want = inside ? raw[16 + (y - 2) * 28 + (x - 2)] * (2f / 255f) - 1f : -1f;
                Assert.Equal(want, img[y * 32 + x]);
            }
        Assert.Equal(-1f, img.Min()); Assert.True(img.Max() > 0.9f);
        float mean = img.Average();
        Assert.InRange(mean, -0.95f, -0.5f); // mostly background

        var sevens = IdxDataset.Open(MnistDir, normalClass: 7);
        Assert.Equal(1070, sevens.Count);
        Assert.All(Enumerable.Range(0, sevens.Count), i => Assert.Equal(7, sevens.LabelOf(i)));
        Assert.Equal(10000 - 1070, IdxDataset.Open(MnistDir, excludeClass: 7).Count);
        var resized = IdxDataset.Open(MnistDir, size: 16, channels: 3);
        Assert.Equal(IdxFit.Resize, resized.Fit);
        var r = resized.Load(0);
        Assert.Equal(3 * 256, r.Length);
        Assert.Equal(r.AsSpan(0, 256).ToArray(), r.AsSpan(512, 256).ToArray());
        Assert.Throws<UserError>(() => IdxDataset.Open(MnistDir, size: 16, fit: IdxFit.Pad));

        var (train, held) = sevens.SplitPerLabel(0.8);
        Assert.Equal(856, train.Count); Assert.Equal(214, held.Count);
        Assert.IsType<IdxDataset>(DatasetFactory.Open(MnistDir, new DatasetOptions { Size = 32 }));
    }

    private static byte[] Gunzip(string path)
    {
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray();
    }

    [Fact]
    public void SyntheticIdxErrors()
    {
        using var d = new TempDir();
        byte[] Images(uint magic, int n, int extra = 0)
        {
            var b = new byte[16 + n * 4 * 4 + extra];
            BinaryPrimitives.WriteUInt32BigEndian(b, magic);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), (uint)n);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), 4);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12), 4);
            return b;
        }
        byte[] Labels(uint magic, int n) { var b = new byte[8 + n]; BinaryPrimitives.WriteUInt32BigEndian(b, magic); BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), (uint)n); for (int i = 0; i < n; i++) b[8 + i] = (byte)(i % 3); return b; }
        var img = d["x-images-idx3-ubyte"]; var lab = d["x-labels-idx1-ubyte"];
        File.WriteAllBytes(img, Images(0x803, 6)); File.WriteAllBytes(lab, Labels(0x801, 6));
        var ds = IdxDataset.Open(d.Path, size: 4);
        Assert.Equal(6, ds.Count);
        Assert.Equal(2, IdxDataset.Open(img, size: 4, normalClass: 1).Count);

        File.WriteAllBytes(img, Images(0x801, 6));
        var e = Assert.Throws<UserError>(() => IdxDataset.Open(d.Path, size: 4));
        Assert.Contains("bad magic", e.Message); Assert.Contains(img, e.Message);
        File.WriteAllBytes(img, Images(0x803, 6)[..50]);
        e = Assert.Throws<UserError>(() => IdxDataset.Open(d.Path, size: 4));
        Assert.Contains("truncated", e.Message);
        File.WriteAllBytes(img, Images(0x803, 5));
        e = Assert.Throws<UserError>(() => IdxDataset.Open(d.Path, size: 4));
        Assert.Contains("5 images but", e.Message);
        File.WriteAllBytes(img, Images(0x803, 6));
        File.WriteAllBytes(lab, Labels(0x803, 6));
        Assert.Contains("bad magic", Assert.Throws<UserError>(() => IdxDataset.Open(d.Path, size: 4)).Message);
        File.WriteAllBytes(lab, Labels(0x801, 6));
        Assert.Throws<UserError>(() => IdxDataset.Open(d.Path, size: 4, normalClass: 9)); // nothing left
        // Gzip damage.
        File.WriteAllBytes(img + ".gz", [0x1F, 0x8B, 1, 2, 3]);
        File.Delete(img);
        Assert.Throws<UserError>(() => IdxDataset.Open(d.Path, size: 4));
    }

    [Fact]
    public void FactoryDetection()
    {
        using var d = new TempDir();
        TestImages.Write(d["imgs/a.png"], "png", 10, 10, 1);
        var ds = DatasetFactory.Open(d["imgs"], null, 8, 0);
        Assert.IsType<FolderDataset>(ds);
        Assert.Equal(1, ds.Channels);
        Assert.Throws<UserError>(() => DatasetFactory.Open(d["imgs"], "tiff", 8, 1));
        Assert.Throws<UserError>(() => DatasetFactory.Open(d["nothing"], null, 8, 1));
    }
}
