using NativeVq.Data;
using NativeVq.Models.Training;
using NativeVq.Tests.Data;

namespace NativeVq.Tests.Reliability;

/// <summary>Issue 8: every input problem gets a UserError naming the file and its own cause; no silent wrong answer.</summary>
public sealed class DataReliabilityTests
{
    private static readonly ImageLoadOptions Gray16 = new() { Size = 16, Channels = 1 };

    [Fact]
    public void InvalidPngHeaderAndPixelLimitNameTheirCauseEvenWhenOnlyTheHeaderIsRead()
    {
        using var d = new TempDir();
        var ok = TestImages.Write(d["ok.png"], "png", 8, 8, 3);
        File.WriteAllBytes(d["depth.png"], ReliabilityFiles.PngWithBadBitDepth(ok));
        foreach (var read in new Func<string, object>[] { p => ImageIO.ReadInfo(p), p => ImageIO.Decode(p, 1) })
        {
            var e = Assert.Throws<UserError>(() => read(d["depth.png"]));
            Assert.Contains("depth.png", e.Message);
            Assert.Contains("bit depth 3", e.Message);
            Assert.DoesNotContain("not a PNG", e.Message);
        }
        var big = Assert.Throws<UserError>(() => ImageIO.ReadInfo(ok, maxPixels: 10));
        Assert.Contains("above the limit", big.Message);
        // Through the dataset factory (the channel probe of `train`), too.
        var folder = d["probe"];
        TestImages.Write(Path.Combine(folder, "a.png"), "png", 8, 8, 3);
        var probe = Assert.Throws<UserError>(() => DatasetFactory.Open(folder, new DatasetOptions { Size = 8, MaxPixels = 10 }));
        Assert.Contains("above the limit", probe.Message);
    }

    [Fact]
    public void IdxWithZeroImagesLabelsOutsideTheDigitsOrAMissingNormalClassAreRefused()
    {
        using var d = new TempDir();
        ReliabilityFiles.WriteIdx(d["zero"], [], declaredImages: 0);
        Assert.Contains("declares 0 images", Assert.Throws<UserError>(() => IdxDataset.Open(d["zero"], size: 4)).Message);

        ReliabilityFiles.WriteIdx(d["big"], [1, 2, 12, 3]);
        var e = Assert.Throws<UserError>(() => IdxDataset.Open(d["big"], size: 4));
        Assert.Contains("label 12", e.Message);
        Assert.Contains("t-labels-idx1-ubyte", e.Message);

        ReliabilityFiles.WriteIdx(d["few"], [0, 1, 2, 0, 1, 2]);
        e = Assert.Throws<UserError>(() => IdxDataset.Open(d["few"], size: 4, normalClass: 7));
        Assert.Contains("no image of class 7", e.Message);
        Assert.Contains("0, 1, 2", e.Message);
        Assert.Contains("0-9", Assert.Throws<UserError>(() => DatasetFactory.Open(d["few"], new DatasetOptions { Size = 4, NormalClass = 11 })).Message);
    }

    [Fact]
    public void NormalClassOnImageFoldersIsRefused()
    {
        using var d = new TempDir();
        ReliabilityFiles.Png(d["imgs/a.png"]);
        var e = Assert.Throws<UserError>(() => DatasetFactory.Open(d["imgs"], new DatasetOptions { Size = 16, NormalClass = 3 }));
        Assert.Contains("--normal-class", e.Message);
    }

    [Fact]
    public void OneVsRestWithoutTheNormalClassIsAnErrorNotNaN()
    {
        using var d = new TempDir();
        ReliabilityFiles.WriteIdx(d["idx"], Enumerable.Range(0, 30).Select(i => (byte)(i % 3)).ToArray());
        var all = IdxDataset.Open(d["idx"], size: 4);
        var e = Assert.Throws<UserError>(() => NativeVq.Anomaly.Evaluation.EvalSet.OneVsRest(all, 7));
        Assert.Contains("no image of class 7", e.Message);
        Assert.Equal(6, NativeVq.Anomaly.Evaluation.EvalSet.OneVsRest(all, 1).Data.Count);
    }

    [Fact]
    public void FolderLinksAreFollowedOncePerRealFolderWithoutLooping()
    {
        if (OperatingSystem.IsWindows()) return;
        using var d = new TempDir();
        ReliabilityFiles.Png(d["root/a/x.png"]);
        ReliabilityFiles.Png(d["outside/y.png"]);
        Directory.CreateSymbolicLink(d["root/a/loop"], d["root"]);          // a cycle
        Directory.CreateSymbolicLink(d["root/again"], d["root/a"]);          // a second name inside the root
        Directory.CreateSymbolicLink(d["root/ext1"], d["outside"]);          // two links to one outside folder
        Directory.CreateSymbolicLink(d["root/ext2"], d["outside"]);
        var notes = new List<string>();
        var ds = new FolderDataset(d["root"], Gray16, notes.Add);
        Assert.Equal(["a/x.png", "ext1/y.png"], Enumerable.Range(0, ds.Count).Select(ds.NameOf).ToArray());
        Assert.Contains(notes, n => n.Contains("did not follow 3 folder link"));
    }

    [Fact]
    public void FileNamesThatAreNotUtf8AreSkippedWithANoteNotAFailure()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var d = new TempDir();
        ReliabilityFiles.Png(d["imgs/a.png"]);
        ReliabilityFiles.Png(d["imgs/b.png"]);
        byte[] raw = [(byte)'b', 0xFF, 0xFE, (byte)'.', (byte)'p', (byte)'n', (byte)'g'];
        ReliabilityFiles.RenameToInvalidUtf8(d["imgs/b.png"], raw);
        try
        {
            var notes = new List<string>();
            var ds = new FolderDataset(d["imgs"], Gray16, notes.Add);
            Assert.Equal(1, ds.Count);
            ds.Load(0, new float[256]);
            Assert.Contains(notes, n => n.Contains("not valid UTF-8"));
        }
        finally { ReliabilityFiles.DeleteRaw(d["imgs"], raw); }
    }

    [Fact]
    public void MvtecMaskPixelIsDefectWhenAnyChannelIsNonZeroAndEmptyMasksAreReported()
    {
        using var d = new TempDir();
        var root = d["cat"];
        TestImages.Write(Path.Combine(root, "train", "good", "0.png"), "png", 8, 8, 3);
        string[] kinds = ["red", "ones", "empty"];
        foreach (var k in kinds)
        {
            TestImages.Write(Path.Combine(root, "test", k, "0.png"), "png", 8, 8, 3);
            var rgb = new byte[8 * 8 * 3];
            for (int i = 0; i < 16; i++)   // the top two rows are the defect
            {
                if (k == "red") rgb[3 * i] = 255;
                if (k == "ones") { rgb[3 * i] = 1; rgb[3 * i + 1] = 1; rgb[3 * i + 2] = 1; }
            }
            TestImages.Write(Path.Combine(root, "ground_truth", k, "0_mask.png"), "png", 8, 8, 3, rgb);
        }
        var notes = new List<string>();
        var test = MvtecDataset.Test(root, new ImageLoadOptions { Size = 8, Channels = 3, Resize = ResizeMode.Stretch }, notes.Add);
        var expected = Enumerable.Range(0, 64).Select(i => i < 16 ? 1f : 0f).ToArray();
        Assert.Equal(expected, test.LoadMask(Array.FindIndex(Enumerable.Range(0, test.Count).ToArray(), i => test.DefectOf(i) == "red")));
        Assert.Equal(expected, test.LoadMask(Array.FindIndex(Enumerable.Range(0, test.Count).ToArray(), i => test.DefectOf(i) == "ones")));
        int empty = Array.FindIndex(Enumerable.Range(0, test.Count).ToArray(), i => test.DefectOf(i) == "empty");
        Assert.All(test.LoadMask(empty), v => Assert.Equal(0f, v));
        test.LoadMask(empty);
        Assert.Single(notes, n => n.Contains("mask is empty") && n.Contains("'empty'"));
    }

    [Fact]
    public void CheckpointHeaderDamageIsAUserErrorNamingTheFile()
    {
        using var d = new TempDir();
        var path = d["m.nvq"];
        ReliabilityFiles.WriteCheckpoint(path);
        var good = File.ReadAllBytes(path);
        int kindAt = System.Text.Encoding.ASCII.GetString(good).IndexOf("vqvae", StringComparison.Ordinal);
        var bad = (byte[])good.Clone();
        bad[kindAt] = 0xC3;   // a UTF-8 lead byte followed by ASCII: invalid UTF-8 inside a JSON string
        File.WriteAllBytes(path, ReliabilityFiles.Reseal(bad));
        foreach (var read in new Func<string, NvqCheckpoint>[] { NvqFile.Read, NvqFile.ReadHeader })
        {
            var e = Assert.Throws<UserError>(() => read(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("UTF-8", e.Message);
        }
        File.WriteAllBytes(path, bad);   // without the reseal the checksum catches it first
        Assert.Contains("checksum", Assert.Throws<UserError>(() => NvqFile.Read(path)).Message);
    }

    [Fact]
    public void FoldersAndFilesInTheWrongPlaceAreNamedAsSuch()
    {
        using var d = new TempDir();
        Directory.CreateDirectory(d["run/vqvae.nvq"]);
        Assert.Contains("is a folder", Assert.Throws<UserError>(() => NvqFile.Read(d["run/vqvae.nvq"])).Message);
        Assert.Contains("is a folder", Assert.Throws<UserError>(() => ModelStore.LoadVqVae(d["run"], NativeVq.Cpu.CpuBackend.Instance)).Message);
        ReliabilityFiles.WriteCheckpoint(d["other/vqvae.nvq"]);
        var e = Assert.Throws<UserError>(() => ModelStore.LoadVqVae(d["other/vqvae.nvq"], NativeVq.Cpu.CpuBackend.Instance));
        Assert.Contains("pass the folder that holds it", e.Message);
        Assert.Contains(d["other"], e.Message);
    }

    [Fact]
    public void OutputUnderAFileOrAnUnwritablePlaceSaysWhy()
    {
        using var d = new TempDir();
        File.WriteAllText(d["plain"], "x");
        var e = Assert.Throws<UserError>(() => OutputPath.CreateFolder(d["plain/sub/out"], "--out x"));
        Assert.Contains("is a file, not a folder", e.Message);
        e = Assert.Throws<UserError>(() => ImageIO.SavePng(d["plain/out.png"], new float[4], 1, 2, 2));
        Assert.Contains("is a file, not a folder", e.Message);
        Assert.DoesNotContain("Could not find a part", e.Message);
        if (OperatingSystem.IsLinux())
            Assert.Contains("--out /proc/nvq", Assert.Throws<UserError>(() => OutputPath.CreateFolder("/proc/nvq/run", "--out /proc/nvq")).Message);
    }

    [Fact]
    public void ConcurrentWritesOfOneFileUseUniqueTemporaryNames()
    {
        using var d = new TempDir();
        var target = d["same.png"];
        Parallel.For(0, 8, i => ImageIO.SavePng(target, Enumerable.Repeat(i / 8f, 64).ToArray(), 1, 8, 8));
        Assert.Equal(8, ImageIO.Decode(target, 1).Width);
        Assert.Empty(Directory.GetFiles(d.Path, "*.tmp"));
    }

    [Fact]
    public void RunLockRefusesASecondRunTakesOverStaleLocksAndCleansUp()
    {
        using var d = new TempDir();
        var dir = d["out"];
        using (RunLock.Acquire(dir, "--out out"))
        {
            var e = Assert.Throws<UserError>(() => RunLock.Acquire(dir, "--out out"));
            Assert.Contains("in use by another nativevq run", e.Message);
            Assert.Contains($"pid {Environment.ProcessId}", e.Message);
        }
        Assert.False(Directory.Exists(dir));   // created by the lock, left empty: removed again

        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, RunLock.FileName), $"{int.MaxValue}\n{Environment.MachineName}\n2020-01-01\n");   // a killed run
        using (RunLock.Acquire(dir, "--out out")) Assert.True(File.Exists(Path.Combine(dir, RunLock.FileName)));
        Assert.False(File.Exists(Path.Combine(dir, RunLock.FileName)));
        Assert.True(Directory.Exists(dir));   // it existed before: kept
    }
}
