using NativeVq.Data;
using NativeVq.Data.Volumes;

namespace NativeVq.Tests.Data;

public sealed class VolumeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-vol-" + Guid.NewGuid().ToString("N"));

    public VolumeTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private static Volume Ramp(int nx, int ny, int nz) => Volume.Create(nx, ny, nz, Enumerable.Range(0, nx * ny * nz).Select(i => (float)i).ToArray());

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void SlicesFollowNiftiOrderAndWriteBackExactly(int axis)
    {
        var v = Ramp(4, 3, 5);
        var (rows, cols) = v.SliceShape(axis);
        var copy = new float[v.Data.Length];
        for (int k = 0; k < v.Extent(axis); k++)
        {
            var s = v.Slice(axis, k);
            Assert.Equal(rows * cols, s.Length);
            v.SetSlice(copy, axis, k, s);
        }
        Assert.Equal(v.Data, copy);
        // Voxel (x, y, z) = x + 4·(y + 3·z): check one slice element per axis by hand.
        float expected = axis switch { 2 => 1 + 4 * (2 + 3 * 3), 1 => 1 + 4 * (3 + 3 * 2), _ => 3 + 4 * (1 + 3 * 2) };
        // z = 3: row y = 2, column x = 1; y = 3?: axis 1 slice 3 is out of range, use y = 2 → row z, col x.
        if (axis == 2) Assert.Equal(expected, v.Slice(2, 3)[2 * cols + 1]);
        if (axis == 1) Assert.Equal(1 + 4 * (2 + 3 * 2), v.Slice(1, 2)[2 * cols + 1]);
        if (axis == 0) Assert.Equal(expected, v.Slice(0, 3)[2 * cols + 1]);
    }

    [Fact]
    public void NormalisationClipsAtThePercentilesPerVolume()
    {
        // 0..99: p10 = 9.9, p90 = 89.1 (numpy's linear rule).
        var v = Volume.Create(10, 10, 1, Enumerable.Range(0, 100).Select(i => (float)i).ToArray());
        var n = VolumeSlicing.Normalize(v, new VolumeOptions { ClipLow = 10, ClipHigh = 90 });
        Assert.Equal(-1f, n[0]);
        Assert.Equal(-1f, n[9]);
        Assert.Equal(1f, n[99]);
        Assert.Equal((float)(2 * (50 - 9.9) / (89.1 - 9.9) - 1), n[50], 5);
        // Scale and offset do not matter: the window moves with the volume.
        var w = Volume.Create(10, 10, 1, v.Data.Select(x => 3 * x + 1000).ToArray());
        Assert.Equal(n, VolumeSlicing.Normalize(w, new VolumeOptions { ClipLow = 10, ClipHigh = 90 }), new FloatTol(1e-5f));
        Assert.All(VolumeSlicing.Normalize(Volume.Create(2, 2, 2, Enumerable.Repeat(7f, 8).ToArray()), new VolumeOptions()), x => Assert.Equal(-1f, x));
    }

    private sealed class FloatTol(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tol;
        public int GetHashCode(float f) => 0;
    }

    [Fact]
    public void DatasetCutsSlicesAlongTheAxisAndSkipsEmptyOnes()
    {
        // 6x6x5 volumes: background 0 except slices z = 1..3 (a cube of tissue), so z = 0 and 4 are empty.
        for (int f = 0; f < 2; f++)
        {
            var data = new float[6 * 6 * 5];
            for (int z = 1; z <= 3; z++)
                for (int y = 1; y < 5; y++)
                    for (int x = 1; x < 5; x++) data[x + 6 * (y + 6 * z)] = 100 + x * y * (f + 1);
            NiftiFile.Write(Path.Combine(_dir, f == 0 ? "b.nii.gz" : "sub/a.nii"), Volume.Create(6, 6, 5, data));
        }
        File.WriteAllText(Path.Combine(_dir, "notes.txt"), "not a volume");
        Assert.Equal("nifti", DatasetFactory.Detect(_dir));
        var all = (VolumeDataset)DatasetFactory.Open(_dir, new DatasetOptions { Size = 8 });
        Assert.Equal(10, all.Count);
        Assert.Equal("b.nii.gz:z000", all.NameOf(0));
        Assert.Equal("sub/a.nii:z004", all.NameOf(9));
        var skip = new VolumeDataset(_dir, 8, new VolumeOptions { SkipEmpty = true });
        Assert.Equal(6, skip.Count);
        Assert.Equal("b.nii.gz:z001", skip.NameOf(0));
        var alongX = new VolumeDataset(_dir, 8, new VolumeOptions { Axis = 0, SkipEmpty = true });
        Assert.Equal(8, alongX.Count); // x = 1..4 of each volume
        Assert.Equal(1, skip.Channels);
        var a = skip.Load(2);
        Assert.Equal(64, a.Length);
        Assert.All(a, v => Assert.InRange(v, -1f, 1f));
        Assert.Contains(a, v => v > -1f);
        Assert.Equal(a, new VolumeDataset(_dir, 8, new VolumeOptions { SkipEmpty = true }).Load(2));
        Assert.All(all.Load(0), v => Assert.Equal(-1f, v));
    }

    [Fact]
    public void DatasetErrorsNameTheFolderOrOption()
    {
        Assert.Contains("no NIfTI volumes", Assert.Throws<UserError>(() => new VolumeDataset(_dir, 8, new VolumeOptions())).Message);
        Assert.Contains("--slice-axis", Assert.Throws<UserError>(() => new VolumeDataset(_dir, 8, new VolumeOptions { Axis = 3 })).Message);
        Assert.Contains("--clip-percentiles", Assert.Throws<UserError>(() => new VolumeDataset(_dir, 8, new VolumeOptions { ClipLow = 60, ClipHigh = 40 })).Message);
        NiftiFile.Write(Path.Combine(_dir, "z.nii"), Volume.Create(3, 3, 3));
        Assert.Contains("every slice", Assert.Throws<UserError>(() => new VolumeDataset(_dir, 8, new VolumeOptions { SkipEmpty = true })).Message);
        File.WriteAllBytes(Path.Combine(_dir, "broken.nii"), new byte[10]);
        var e = Assert.Throws<UserError>(() => new VolumeDataset(_dir, 8, new VolumeOptions()));
        Assert.Contains("broken.nii", e.Message);
    }

    [Fact]
    public void PhantomsAreDeterministicWithMasksInsideTheBody()
    {
        var p = new PhantomVolumes(24, 5, anomalyFraction: 1f);
        var (v, mask, defect) = p.Generate(3);
        var (v2, mask2, _) = p.Generate(3);
        Assert.Equal(v.Data, v2.Data);
        Assert.Equal(mask, mask2);
        Assert.Contains(defect, PhantomVolumes.Defects);
        Assert.NotNull(mask);
        Assert.True(mask!.Count(m => m > 0) > 20);
        Assert.Equal(0f, v.Data[0]); // corner: background is exactly 0
        var (n, nm, nd) = new PhantomVolumes(24, 5).Generate(3);
        Assert.Null(nm);
        Assert.Equal("good", nd);
        Assert.NotEqual(v.Data, new PhantomVolumes(24, 6).Generate(3).Volume.Data);
        Assert.True(n.Data.Count(x => x > 0) > n.Data.Length / 10);
    }
}
