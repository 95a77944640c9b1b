using System.Diagnostics;
using System.Threading.Channels;
using NativeVq.Data;

namespace NativeVq.Serve;

/// <summary>
/// Dynamic batching: requests wait in a bounded channel; one worker thread takes the first waiting image, gathers
/// whatever else arrives within <see cref="ServeOptions.MaxBatchDelayMs"/> (up to <see cref="ServeOptions.MaxBatch"/>
/// images) and scores them in one batched call. One worker means one model pass at a time, which is what the
/// model's own parallelism (all cores, or the GPU) wants. When the channel is full a request is refused at once
/// (503) instead of queueing without bound.
/// </summary>
public sealed class BatchQueue : IAsyncDisposable
{
    private sealed record Job(ImageF Image, bool Map, TaskCompletionSource<ServedScore> Done, CancellationToken Aborted);

    private readonly Channel<Job> _channel;
    private readonly Func<IBatchScorer> _scorer;
    private readonly ServeOptions _options;
    private readonly ServeMetrics _metrics;
    private readonly Thread _worker;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public BatchQueue(Func<IBatchScorer> scorer, ServeOptions options, ServeMetrics metrics)
    {
        _scorer = scorer;
        _options = options;
        _metrics = metrics;
        _channel = Channel.CreateBounded<Job>(new BoundedChannelOptions(options.MaxQueue)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full; nothing is dropped silently
        });
        _worker = new Thread(Work) { IsBackground = true, Name = "nativevq-batch-worker" };
        _worker.Start();
    }

    /// <summary>Queues one image; throws <see cref="ApiError"/> 503 when the queue is full.</summary>
    public Task<ServedScore> Score(ImageF image, bool map, CancellationToken aborted)
    {
        var job = new Job(image, map, new TaskCompletionSource<ServedScore>(TaskCreationOptions.RunContinuationsAsynchronously), aborted);
        _metrics.QueueDepth.Inc();
        if (_channel.Writer.TryWrite(job)) return job.Done.Task;
        _metrics.QueueDepth.Dec();
        throw ApiError.QueueFull(_options.MaxQueue);
    }

    private void Work()
    {
        var reader = _channel.Reader;
        var batch = new List<Job>(_options.MaxBatch);
        try
        {
            while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                Gather(reader, batch);
                if (batch.Count > 0) Run(batch);
                batch.Clear();
            }
        }
        finally { _stopped.TrySetResult(); }
    }

    /// <summary>The first waiting job, then more until the batch is full or the delay since the first has passed.</summary>
    private void Gather(ChannelReader<Job> reader, List<Job> batch)
    {
        var clock = Stopwatch.StartNew();
        while (batch.Count < _options.MaxBatch)
        {
            if (reader.TryRead(out var job))
            {
                _metrics.QueueDepth.Dec();
                // A client that went away while waiting costs nothing more.
                if (job.Aborted.IsCancellationRequested) job.Done.TrySetCanceled(job.Aborted);
                else batch.Add(job);
                continue;
            }
            if (batch.Count == 0) return;
            var left = TimeSpan.FromMilliseconds(_options.MaxBatchDelayMs) - clock.Elapsed;
            if (left <= TimeSpan.Zero) return;
            using var timeout = new CancellationTokenSource(left);
            try { if (!reader.WaitToReadAsync(timeout.Token).AsTask().GetAwaiter().GetResult()) return; }
            catch (OperationCanceledException) { return; }
        }
    }

    private void Run(List<Job> batch)
    {
        var clock = Stopwatch.StartNew();
        _metrics.BatchSize.Observe(batch.Count);
        try
        {
            var scorer = _scorer();
            // Maps cost restorations; images that did not ask for one are scored without.
            foreach (var group in batch.GroupBy(j => j.Map))
            {
                var jobs = group.ToList();
                var results = scorer.ScoreBatch(jobs.Select(j => j.Image).ToList(), group.Key);
                for (int i = 0; i < jobs.Count; i++) jobs[i].Done.TrySetResult(results[i]);
            }
        }
        catch (Exception e)
        {
            foreach (var j in batch) j.Done.TrySetException(e);
        }
        _metrics.BatchSeconds.Observe(clock.Elapsed.TotalSeconds);
    }

    /// <summary>Stops taking new images, lets the worker finish what is queued, and waits for it.</summary>
    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _stopped.Task.ConfigureAwait(false);
    }
}
