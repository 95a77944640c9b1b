using NativeVq.Data;

namespace NativeVq.Tests.Data;

/// <summary>A dataset whose image i is filled with the value i (and optionally fails or sleeps).</summary>
internal sealed class CountingDataset(int count, int size = 2, int failAt = -1, int delayMs = 0) : IImageDataset
{
    public int Loads;
    public int Count => count;
    public int Channels => 1;
    public int Size => size;
    public void Load(int index, Span<float> chw)
    {
        Interlocked.Increment(ref Loads);
        if (index == failAt) throw new UserError($"img{index}: damaged");
        if (delayMs > 0) Thread.Sleep(delayMs);
        chw.Fill(index);
    }
    public string NameOf(int index) => $"img{index}";
    public int LabelOf(int index) => index % 2;
}

public sealed class BatchLoaderTests
{
    private static List<int[]> Take(BatchLoader l, int n)
    {
        var r = new List<int[]>();
        for (int i = 0; i < n; i++)
        {
            using var b = l.Next();
            // The data matches the indices.
            for (int k = 0; k < b.Count; k++) Assert.Equal(b.Indices[k], (int)b.Values[k * 4]);
            r.Add(b.Indices);
        }
        return r;
    }

    [Fact]
    public void SameSeedSameBatchesRegardlessOfPrefetchAndWorkers()
    {
        var ds = new CountingDataset(23);
        var o = new BatchLoaderOptions { BatchSize = 5, Seed = 42 };
        using var a = new BatchLoader(ds, o with { Prefetch = 0 });
        using var b = new BatchLoader(ds, o with { Prefetch = 3, Workers = 2 });
        using var c = new BatchLoader(new CountingDataset(23, delayMs: 1), o with { Prefetch = 2, Workers = 3 });
        var ra = Take(a, 12); var rb = Take(b, 12); var rc = Take(c, 12);
        Assert.Equal(ra, rb); Assert.Equal(ra, rc);
        // 5 batches per epoch (last has 3), each epoch a permutation, epochs differ.
        Assert.Equal(5, a.BatchesPerEpoch);
        Assert.Equal(3, ra[4].Length);
        Assert.Equal(Enumerable.Range(0, 23), ra.Take(5).SelectMany(x => x).Order());
        Assert.NotEqual(ra.Take(5).SelectMany(x => x), ra.Skip(5).Take(5).SelectMany(x => x));
        using var other = new BatchLoader(ds, o with { Seed = 43 });
        Assert.NotEqual(ra, Take(other, 12));
    }

    [Fact]
    public void ResumeFromPositionGivesTheSameRemainingBatches()
    {
        var ds = new CountingDataset(23);
        var o = new BatchLoaderOptions { BatchSize = 4, Seed = 7 };
        using var full = new BatchLoader(ds, o);
        var all = Take(full, 20);
        using var first = new BatchLoader(ds, o);
        LoaderPosition saved = default;
        for (int i = 0; i < 9; i++) { using var bt = first.Next(); saved = bt.Next; }
        Assert.Equal(saved, first.Position);
        Assert.Equal(new LoaderPosition(1, 12), saved); // 6 batches per epoch
        using var resumed = new BatchLoader(ds, o, saved);
        Assert.Equal(all.Skip(9).ToList(), Take(resumed, 11));
        // Seek back on an existing loader too.
        first.Seek(new LoaderPosition(0, 0));
        Assert.Equal(all.Take(5).ToList(), Take(first, 5));
        // A resumed run with another batch size continues at the same sample.
        using var bigger = new BatchLoader(ds, o with { BatchSize = 11 }, saved);
        Assert.Equal(all.Skip(9).Take(3).SelectMany(x => x).Take(11), bigger.Next().Indices);
    }

    [Fact]
    public void DropLastNoShuffleEpochsAndErrors()
    {
        var ds = new CountingDataset(10);
        using var l = new BatchLoader(ds, new BatchLoaderOptions { BatchSize = 4, DropLast = true, Shuffle = false });
        var epoch = l.EpochBatches().Select(b => b.Indices).ToList();
        Assert.Equal([[0, 1, 2, 3], [4, 5, 6, 7]], epoch);
        Assert.Equal(new LoaderPosition(1, 0), l.Position);
        var b2 = l.Next();
        Assert.Equal(1, b2.Epoch);
        Assert.Equal([4, 1, 2, 2], b2.Shape);
        Assert.Equal([0, 1, 0, 1], b2.Labels);
        Assert.Throws<UserError>(() => new BatchLoader(new CountingDataset(3), new BatchLoaderOptions { BatchSize = 4, DropLast = true }));

        // A failing image surfaces from Next() as the UserError, in order, and keeps surfacing.
        using var bad = new BatchLoader(new CountingDataset(10, failAt: 5), new BatchLoaderOptions { BatchSize = 4, Shuffle = false, Prefetch = 2 });
        bad.Next();
        var e = Assert.Throws<UserError>(() => bad.Next());
        Assert.Contains("img5", e.Message);
        Assert.Throws<UserError>(() => bad.Next());
    }

    [Fact]
    public void CacheLoadsEachImageOnce()
    {
        var ds = new CountingDataset(10);
        using var l = new BatchLoader(ds, new BatchLoaderOptions { BatchSize = 3, Seed = 1, Cache = true, Prefetch = 0 });
        var cached = Take(l, 12);
        Assert.Equal(10, ds.Loads);
        using var plain = new BatchLoader(new CountingDataset(10), new BatchLoaderOptions { BatchSize = 3, Seed = 1, Prefetch = 0 });
        Assert.Equal(Take(plain, 12), cached);
    }

    [Fact]
    public void BatchToTensor()
    {
        using var l = new BatchLoader(new CountingDataset(5), new BatchLoaderOptions { BatchSize = 2, Shuffle = false });
        using var scope = new TensorScope();
        var t = l.Next().ToTensor(NativeVq.Cpu.CpuBackend.Instance);
        Assert.Equal([2, 1, 2, 2], t.Shape);
        Assert.Equal([0f, 0, 0, 0, 1, 1, 1, 1], t.ToArray());
    }
}
