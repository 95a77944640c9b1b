using NativeVq.Data.Volumes;

namespace NativeVq.Tests.Data;

public sealed class NiftiTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-nifti-" + Guid.NewGuid().ToString("N"));

    public NiftiTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private string Save(byte[] bytes, string name = "v.nii")
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    public static TheoryData<short, short, bool> Types()
    {
        var d = new TheoryData<short, short, bool>();
        foreach (var (t, bits) in new (short, short)[] { (2, 8), (4, 16), (8, 32), (16, 32), (64, 64) })
            foreach (var big in new[] { false, true }) d.Add(t, bits, big);
        return d;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void ReadsEveryDatatypeInBothByteOrders(short datatype, short bitpix, bool big)
    {
        // Values each type holds exactly; negatives where the type is signed.
        double[] values = datatype switch
        {
            2 => [0, 1, 7, 100, 200, 255, 3, 4, 5, 6, 8, 9],
            4 => [-32768, -1, 0, 1, 300, 32767, 2, 3, 4, 5, 6, 7],
            8 => [-2_000_000, -1, 0, 1, 70000, 2_000_000, 2, 3, 4, 5, 6, 7],
            _ => [-1.5, 0.25, 0, 1e6, 3.75, -1e-3, 2, 3, 4, 5, 6, 7.5],
        };
        var path = Save(new NiftiBytes { BigEndian = big, Datatype = datatype, Bitpix = bitpix, Values = values }.Build());
        var v = NiftiFile.Read(path);
        Assert.Equal((3, 2, 2), (v.Nx, v.Ny, v.Nz));
        Assert.Equal(big, v.Header.SourceBigEndian);
        Assert.Equal(values.Select(x => (float)x), v.Data);
    }

    [Fact]
    public void AppliesSlopeAndInterceptAndTreatsSlopeZeroOrNaNAsIdentity()
    {
        var values = Enumerable.Range(0, 12).Select(i => (double)i).ToArray();
        var scaled = NiftiFile.Read(Save(new NiftiBytes { SclSlope = 2.5f, SclInter = -3, Values = values }.Build()));
        Assert.Equal(values.Select(x => (float)(x * 2.5 - 3)), scaled.Data);
        var bigScaled = NiftiFile.Read(Save(new NiftiBytes { BigEndian = true, SclSlope = 0.5f, SclInter = 10, Values = values }.Build(), "b.nii"));
        Assert.Equal(values.Select(x => (float)(x * 0.5 + 10)), bigScaled.Data);
        foreach (var slope in new[] { 0f, float.NaN })
        {
            var v = NiftiFile.Read(Save(new NiftiBytes { SclSlope = slope, SclInter = 5, Values = values }.Build(), "s.nii"));
            Assert.Equal(values.Select(x => (float)x), v.Data);
        }
    }

    [Fact]
    public void GzipIsDetectedByContentAndReadsLikeThePlainFile()
    {
        var plain = new NiftiBytes { BigEndian = true, Datatype = 16, Bitpix = 32 }.Build();
        var a = NiftiFile.Read(Save(plain, "a.nii"));
        var b = NiftiFile.Read(Save(NiftiBytes.Gzip(plain), "b.nii.gz"));
        var c = NiftiFile.Read(Save(NiftiBytes.Gzip(plain), "c.nii")); // misnamed: still gzip
        Assert.Equal(a.Data, b.Data);
        Assert.Equal(a.Data, c.Data);
        Assert.Equal(3, NiftiFile.ReadHeader(Path.Combine(_dir, "b.nii.gz")).Nx);
    }

    [Fact]
    public void AcceptsFourDimensionsWithOneTimePointAndSkipsExtensions()
    {
        var v = NiftiFile.Read(Save(new NiftiBytes { Dim = [4, 3, 2, 2, 1, 1, 1, 1] }.Build()));
        Assert.Equal(12, v.Data.Length);
        // vox_offset 400: 48 bytes of extension between the header and the voxels.
        var e = NiftiFile.Read(Save(new NiftiBytes { VoxOffset = 400 }.Build(), "e.nii"));
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (float)i), e.Data);
        var eg = NiftiFile.Read(Save(NiftiBytes.Gzip(new NiftiBytes { VoxOffset = 400 }.Build()), "e.nii.gz"));
        Assert.Equal(e.Data, eg.Data);
    }

    /// <summary>Each refusal class: the mutation, and what the message must name besides the file.</summary>
    public static TheoryData<string, string> Refusals() => new()
    {
        { "sizeof_hdr", "sizeof_hdr" },
        { "nifti2", "NIfTI-2" },
        { "magic ni1", "magic" },
        { "magic", "magic" },
        { "dim0", "dim[0]" },
        { "dim4", "dim[4]" },
        { "dim zero", "dim[2]" },
        { "dim negative", "dim[3]" },
        { "datatype int8", "datatype 256" },
        { "datatype rgb", "datatype 128" },
        { "bitpix", "bitpix" },
        { "vox_offset small", "vox_offset" },
        { "vox_offset fraction", "vox_offset" },
        { "truncated data", "needs" },
        { "extra data", "needs" },
        { "truncated header", "header needs 348" },
        { "slope infinite", "scl_slope" },
        { "nan voxel", "finite" },
        { "overflow voxel", "finite" },
        { "voxel limit", "above the limit" },
        { "gz truncated", "truncated" },
        { "gz extra", "more voxel data" },
        { "gz corrupt", "gzip" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void RefusesWithAMessageNamingTheFileAndTheField(string mutation, string expected)
    {
        var ok = new NiftiBytes();
        byte[] bytes = mutation switch
        {
            "sizeof_hdr" => (ok with { SizeofHdr = 350 }).Build(),
            "nifti2" => (ok with { SizeofHdr = 540 }).Build(),
            "magic ni1" => (ok with { Magic = "ni1\0" }).Build(),
            "magic" => (ok with { Magic = "n+2\0" }).Build(),
            "dim0" => (ok with { Dim = [2, 3, 2, 1, 1, 1, 1, 1] }).Build(),
            "dim4" => (ok with { Dim = [4, 3, 2, 2, 3, 1, 1, 1] }).Build(),
            "dim zero" => (ok with { Dim = [3, 3, 0, 2, 1, 1, 1, 1] }).Build(),
            "dim negative" => (ok with { Dim = [3, 3, 2, -2, 1, 1, 1, 1], Values = [] }).Build(),
            "datatype int8" => (ok with { Datatype = 256, Bitpix = 8 }).Build(),
            "datatype rgb" => (ok with { Datatype = 128, Bitpix = 24 }).Build(),
            "bitpix" => (ok with { Bitpix = 32 }).Build(),
            "vox_offset small" => (ok with { VoxOffset = 348 }).Build(),
            "vox_offset fraction" => (ok with { VoxOffset = 352.5f }).Build(),
            "truncated data" => (ok with { ExtraBytes = -3 }).Build(),
            "extra data" => (ok with { ExtraBytes = 2 }).Build(),
            "truncated header" => ok.Build()[..200],
            "slope infinite" => (ok with { SclSlope = float.PositiveInfinity }).Build(),
            "nan voxel" => (ok with { Datatype = 16, Bitpix = 32, Values = [0, 1, double.NaN, 3, 4, 5, 6, 7, 8, 9, 10, 11] }).Build(),
            "overflow voxel" => (ok with { Datatype = 64, Bitpix = 64, Values = [0, 1, 1e300, 3, 4, 5, 6, 7, 8, 9, 10, 11] }).Build(),
            "voxel limit" => (ok with { Dim = [3, 32767, 32767, 32767, 1, 1, 1, 1], Values = [] }).Build(),
            "gz truncated" => NiftiBytes.Gzip(ok.Build()[..370]),
            "gz extra" => NiftiBytes.Gzip((ok with { ExtraBytes = 1 }).Build()),
            "gz corrupt" => Corrupt(NiftiBytes.Gzip(ok.Build())),
            _ => throw new ArgumentException(mutation),
        };
        var path = Save(bytes, "bad.nii");
        var e = Assert.Throws<UserError>(() => NiftiFile.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    private static byte[] Corrupt(byte[] gz)
    {
        var b = (byte[])gz.Clone();
        for (int i = 12; i < b.Length - 8; i++) b[i] ^= 0x5A; // the deflate stream, not the gzip header
        return b;
    }

    [Fact]
    public void VoxelLimitIsCheckedBeforeTheDataIsRead()
    {
        // A header announcing 128 voxels in a file holding 12 of them: the limit is what is reported, not truncation.
        var path = Save(new NiftiBytes { Dim = [3, 8, 4, 4, 1, 1, 1, 1], Values = new double[12] }.Build()[..(352 + 24)]);
        var e = Assert.Throws<UserError>(() => NiftiFile.Read(path, maxVoxels: 100));
        Assert.Contains("128 voxels, above the limit of 100", e.Message);
        Assert.Throws<UserError>(() => NiftiFile.ReadHeader(path, maxVoxels: 100));
    }

    [Theory]
    [InlineData("out.nii")]
    [InlineData("out.nii.gz")]
    public void RoundTripKeepsValuesShapeAndGeometry(string name)
    {
        // Source: big endian int16 with scaling and a full qform/sform; output: little endian float32, same geometry.
        var src = new NiftiBytes { BigEndian = true, SclSlope = 0.5f, SclInter = 1, Dim = [3, 4, 3, 2, 1, 1, 1, 1], Values = Enumerable.Range(0, 24).Select(i => (double)(i * 7 - 40)).ToArray() };
        var v = NiftiFile.Read(Save(src.Build(), "src.nii"));
        var outPath = Path.Combine(_dir, name);
        NiftiFile.Write(outPath, v);
        Assert.False(File.Exists(outPath + ".tmp"));
        var back = NiftiFile.Read(outPath);
        Assert.Equal(v.Data, back.Data);
        Assert.False(back.Header.SourceBigEndian);
        Assert.Equal(NiftiType.Float32, back.Header.Datatype);
        Assert.Equal((4, 3, 2), (back.Nx, back.Ny, back.Nz));
        Assert.Equal(src.Srow, back.Header.Srow);
        Assert.Equal(src.Quatern, back.Header.Qform);
        Assert.Equal(src.Pixdim[1..4], back.Header.Spacing);
        Assert.Equal((1, 2), (back.Header.QformCode, back.Header.SformCode));
        Assert.False(back.Header.HasScaling && back.Header.Scaling != (1, 0));
        // The bytes we do not interpret (here: descrip) survive too.
        Assert.Equal(v.Header.Bytes[148..228], back.Header.Bytes[148..228]);
        // uint8 output (masks) rounds and clamps.
        var m = Volume.Create(2, 1, 1, [0.6f, 300f]);
        NiftiFile.Write(Path.Combine(_dir, "m.nii"), m, NiftiType.UInt8);
        Assert.Equal([1f, 255f], NiftiFile.Read(Path.Combine(_dir, "m.nii")).Data);
    }

    [Fact]
    public void FuzzedFilesAreReadCorrectlyOrRefusedWithTheFileName()
    {
        var seeds = new[]
        {
            new NiftiBytes { SclSlope = 2, SclInter = -1 }.Build(),
            new NiftiBytes { BigEndian = true, Datatype = 16, Bitpix = 32, Dim = [3, 4, 3, 2, 1, 1, 1, 1] }.Build(),
            new NiftiBytes { Datatype = 2, Bitpix = 8, VoxOffset = 360 }.Build(),
            NiftiBytes.Gzip(new NiftiBytes { Datatype = 64, Bitpix = 64 }.Build()),
        };
        var rng = new Rng(2024);
        var path = Path.Combine(_dir, "fuzz.nii");
        int read = 0, refused = 0;
        for (int t = 0; t < 400; t++)
        {
            var b = (byte[])seeds[t % seeds.Length].Clone();
            int kind = rng.NextInt(4);
            if (kind == 0) b = b[..rng.NextInt(b.Length)];                                         // truncate
            else if (kind == 1) b = [.. b, .. Enumerable.Range(0, 1 + rng.NextInt(8)).Select(_ => (byte)rng.NextInt(256))]; // append
            else
            {
                int flips = 1 + rng.NextInt(4);
                for (int f = 0; f < flips; f++)
                {
                    // Mostly the header (where the fields are), sometimes anywhere.
                    int at = kind == 2 ? rng.NextInt(Math.Min(b.Length, 352)) : rng.NextInt(b.Length);
                    b[at] = (byte)rng.NextInt(256);
                }
            }
            File.WriteAllBytes(path, b);
            try
            {
                var v = NiftiFile.Read(path, maxVoxels: 1 << 16);
                Assert.Equal(v.Header.VoxelCount, v.Data.LongLength);
                Assert.All(v.Data, x => Assert.True(float.IsFinite(x)));
                read++;
            }
            catch (UserError e)
            {
                Assert.Contains(path, e.Message);
                Assert.DoesNotContain('\n', e.Message);
                refused++;
            }
        }
        Assert.True(read > 0 && refused > 0, $"{read} read, {refused} refused");
    }
}
