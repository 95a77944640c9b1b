using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace NativeVq.Data;

/// <summary>
/// Where a loader stands: <see cref="Index"/> samples of epoch <see cref="Epoch"/> have been delivered.
/// Saved in checkpoints so training resumes with exactly the batches the uninterrupted run would have seen
/// (even with another batch size: the position counts samples, not batches).
/// </summary>
public readonly record struct LoaderPosition(int Epoch, int Index)
{
    public override string ToString() => $"epoch {Epoch}, sample {Index}";
}

public sealed record BatchLoaderOptions
{
    public int BatchSize { get; init; } = 32;
    public ulong Seed { get; init; }
    /// <summary>Shuffle every epoch (a permutation drawn from the seed and the epoch number); false = dataset order.</summary>
    public bool Shuffle { get; init; } = true;
    /// <summary>Skip the last, smaller batch of an epoch.</summary>
    public bool DropLast { get; init; }
    /// <summary>Batches prepared ahead on a background thread (0 = load on the caller's thread).</summary>
    public int Prefetch { get; init; } = 2;
    /// <summary>Keep every decoded image in memory after its first load (small datasets such as MNIST).</summary>
    public bool Cache { get; init; }
    /// <summary>Images of one batch decoded in parallel (results do not depend on it).</summary>
    public int Workers { get; init; } = 1;
}

/// <summary>One mini-batch: <see cref="Count"/> images as [Count, C, S, S] floats at the start of <see cref="Data"/>.</summary>
public sealed class Batch : IDisposable
{
    private BatchLoader? _owner;

    internal Batch(BatchLoader owner, float[] data, int count, int channels, int size, int[] indices, int[] labels, LoaderPosition start, LoaderPosition next, bool lastInEpoch)
    {
        _owner = owner; Data = data; Count = count; Channels = channels; Size = size;
        Indices = indices; Labels = labels; Start = start; Next = next; LastInEpoch = lastInEpoch;
    }

    /// <summary>Backing array (may be longer than the batch: use <see cref="Values"/>).</summary>
    public float[] Data { get; }
    public int Count { get; }
    public int Channels { get; }
    public int Size { get; }
    /// <summary>Dataset indices of the images, in batch order.</summary>
    public int[] Indices { get; }
    public int[] Labels { get; }
    public int Epoch => Start.Epoch;
    /// <summary>Position before this batch.</summary>
    public LoaderPosition Start { get; }
    /// <summary>Position after this batch (what to save in a checkpoint taken after training on it).</summary>
    public LoaderPosition Next { get; }
    public bool LastInEpoch { get; }
    public int[] Shape => [Count, Channels, Size, Size];
    public Span<float> Values => Data.AsSpan(0, Count * Channels * Size * Size);

    public Tensor ToTensor(Backend backend) => Tensor.FromArray(backend, Values, Shape);

    /// <summary>Gives the buffer back to the loader for reuse (optional; do not touch <see cref="Data"/> afterwards).</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _owner, null)?.Recycle(Data);
    }
}

/// <summary>
/// Shuffled mini-batches from an <see cref="IImageDataset"/>. The order is a pure function of (seed, epoch):
/// epoch e uses a Fisher–Yates permutation drawn from <c>new Rng(mix(seed, e))</c>, so the batches never depend
/// on timing, prefetching or the number of decode workers, and a run resumed from a <see cref="LoaderPosition"/>
/// sees the same remaining batches. A background thread prepares the next <see cref="BatchLoaderOptions.Prefetch"/>
/// batches (bounded queue) so decoding overlaps compute; decode errors surface from <see cref="Next"/>.
/// </summary>
public sealed class BatchLoader : IDisposable
{
    private readonly IImageDataset _ds;
    private readonly BatchLoaderOptions _o;
    private readonly int _per;
    private readonly ConcurrentBag<float[]> _free = new();
    private readonly float[]? _cache;
    private readonly bool[]? _cached;
    private int[]? _orderEpoch = null;
    private int _orderEpochNumber = -1;
    private readonly object _orderLock = new();

    private LoaderPosition _pos;           // where the next Next() starts
    private LoaderPosition _producerPos;   // where the producer goes on
    private Thread? _worker;
    private CancellationTokenSource? _cts;
    private BlockingCollection<(Batch? Batch, ExceptionDispatchInfo? Error)>? _queue;
    private bool _disposed;
    private ExceptionDispatchInfo? _fault; // a producer error, rethrown until Seek

    public BatchLoader(IImageDataset dataset, BatchLoaderOptions options, LoaderPosition start = default)
    {
        _ds = dataset;
        _o = options;
        if (options.BatchSize < 1) throw new UserError($"batch size must be positive, not {options.BatchSize}");
        if (options.Prefetch < 0) throw new UserError($"prefetch must be ≥ 0, not {options.Prefetch}");
        if (dataset.Count == 0) throw new UserError("the dataset is empty");
        if (options.DropLast && dataset.Count < options.BatchSize)
            throw new UserError($"the dataset has {dataset.Count} images, fewer than one batch of {options.BatchSize} (lower the batch size or keep the last partial batch)");
        _per = dataset.Channels * dataset.Size * dataset.Size;
        if (options.Cache)
        {
            if ((long)_per * dataset.Count > int.MaxValue) throw new UserError($"dataset of {dataset.Count} images is too large to cache in memory");
            _cache = new float[_per * dataset.Count];
            _cached = new bool[dataset.Count];
        }
        Seek(start);
    }

    public IImageDataset Dataset => _ds;
    public BatchLoaderOptions Options => _o;
    /// <summary>Samples delivered per epoch (all of them, or whole batches only with drop-last).</summary>
    public int SamplesPerEpoch => _o.DropLast ? _ds.Count / _o.BatchSize * _o.BatchSize : _ds.Count;
    public int BatchesPerEpoch => _o.DropLast ? _ds.Count / _o.BatchSize : (_ds.Count + _o.BatchSize - 1) / _o.BatchSize;
    /// <summary>The position the next batch starts at.</summary>
    public LoaderPosition Position => _pos;

    /// <summary>The sample order of epoch <paramref name="epoch"/> (a pure function of seed and epoch).</summary>
    public static int[] Order(int count, ulong seed, int epoch, bool shuffle)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++) order[i] = i;
        if (shuffle)
        {
            var rng = new Rng(seed ^ (0xD1B54A32D192ED03UL * (ulong)(epoch + 1)));
            rng.Shuffle(order);
        }
        return order;
    }

    /// <summary>Moves to <paramref name="position"/> (discarding prefetched batches).</summary>
    public void Seek(LoaderPosition position)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (position.Epoch < 0 || position.Index < 0) throw new UserError($"invalid loader position ({position})");
        StopWorker();
        _fault = null;
        _pos = Normalise(position);
        _producerPos = _pos;
        if (_o.Prefetch > 0)
        {
            _cts = new CancellationTokenSource();
            _queue = new BlockingCollection<(Batch?, ExceptionDispatchInfo?)>(_o.Prefetch);
            var (q, tok) = (_queue, _cts.Token);
            _worker = new Thread(() => Produce(q, tok)) { IsBackground = true, Name = "nvq-batch-loader" };
            _worker.Start();
        }
    }

    /// <summary>The next batch (epochs follow one another without end).</summary>
    public Batch Next()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Batch b;
        if (_queue is null) b = Build(ref _producerPos);
        else
        {
            _fault?.Throw();
            var (batch, error) = _queue.Take();
            if (error is not null) { _fault = error; error.Throw(); }
            b = batch!;
        }
        _pos = b.Next;
        return b;
    }

    /// <summary>The remaining batches of the current epoch.</summary>
    public IEnumerable<Batch> EpochBatches()
    {
        int epoch = _pos.Epoch;
        while (_pos.Epoch == epoch) yield return Next();
    }

    private LoaderPosition Normalise(LoaderPosition p)
        => p.Index >= SamplesPerEpoch ? new LoaderPosition(p.Epoch + 1 + (p.Index - SamplesPerEpoch) / Math.Max(1, SamplesPerEpoch), 0) : p;

    private int[] OrderOf(int epoch)
    {
        lock (_orderLock)
        {
            if (_orderEpochNumber != epoch)
            {
                _orderEpoch = Order(_ds.Count, _o.Seed, epoch, _o.Shuffle);
                _orderEpochNumber = epoch;
            }
            return _orderEpoch!;
        }
    }

    private Batch Build(ref LoaderPosition pos)
    {
        var start = pos;
        var order = OrderOf(start.Epoch);
        int take = Math.Min(_o.BatchSize, SamplesPerEpoch - start.Index);
        var indices = order.AsSpan(start.Index, take).ToArray();
        if (!_free.TryTake(out var data)) data = new float[_o.BatchSize * _per];
        try
        {
            if (_o.Workers > 1 && take > 1)
            {
                try
                {
                    Parallel.For(0, take, new ParallelOptions { MaxDegreeOfParallelism = _o.Workers }, i => LoadOne(indices[i], data.AsSpan(i * _per, _per)));
                }
                catch (AggregateException ae)
                {
                    var first = ae.Flatten().InnerExceptions.OrderBy(e => e is UserError ? 0 : 1).First();
                    ExceptionDispatchInfo.Capture(first).Throw();
                }
            }
            else
            {
                for (int i = 0; i < take; i++) LoadOne(indices[i], data.AsSpan(i * _per, _per));
            }
        }
        catch
        {
            _free.Add(data);
            throw;
        }
        var labels = indices.Select(_ds.LabelOf).ToArray();
        var next = Normalise(new LoaderPosition(start.Epoch, start.Index + take));
        pos = next;
        return new Batch(this, data, take, _ds.Channels, _ds.Size, indices, labels, start, next, next.Epoch != start.Epoch);
    }

    private void LoadOne(int index, Span<float> dst)
    {
        if (_cache is null) { _ds.Load(index, dst); return; }
        var slot = _cache.AsSpan(index * _per, _per);
        if (!Volatile.Read(ref _cached![index]))
        {
            _ds.Load(index, slot);
            Volatile.Write(ref _cached[index], true);
        }
        slot.CopyTo(dst);
    }

    private void Produce(BlockingCollection<(Batch?, ExceptionDispatchInfo?)> queue, CancellationToken tok)
    {
        var pos = _producerPos;
        try
        {
            while (!tok.IsCancellationRequested)
            {
                Batch b;
                try { b = Build(ref pos); }
                catch (Exception e)
                {
                    // Report the error in order, then stop: the consumer sees it on the Next() that wanted this batch.
                    queue.Add((null, ExceptionDispatchInfo.Capture(e)), tok);
                    return;
                }
                queue.Add((b, null), tok);
            }
        }
        catch (OperationCanceledException) { }
        catch (InvalidOperationException) { } // queue completed
    }

    internal void Recycle(float[] data)
    {
        if (data.Length == _o.BatchSize * _per && _free.Count < _o.Prefetch + 4) _free.Add(data);
    }

    private void StopWorker()
    {
        if (_worker is null) return;
        _cts!.Cancel();
        _worker.Join();
        _queue!.Dispose();
        _cts.Dispose();
        (_worker, _queue, _cts) = (null, null, null);
    }

    public void Dispose()
    {
        if (_disposed) return;
        StopWorker();
        _disposed = true;
    }
}
