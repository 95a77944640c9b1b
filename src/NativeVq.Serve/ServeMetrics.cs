using Prometheus;

namespace NativeVq.Serve;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (several servers in one process, as in the tests,
/// do not mix their counts). Served as text on GET /metrics.
/// </summary>
public sealed class ServeMetrics
{
    public ServeMetrics(int maxBatch)
    {
        Registry = Metrics.NewCustomRegistry();
        var f = Metrics.WithCustomRegistry(Registry);
        Requests = f.CreateCounter("nativevq_http_requests_total", "HTTP requests by route pattern and status code.",
            new CounterConfiguration { LabelNames = ["route", "status"] });
        Latency = f.CreateHistogram("nativevq_http_request_duration_seconds", "Time from request start to response end, by route pattern.",
            new HistogramConfiguration { LabelNames = ["route"], Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });
        Errors = f.CreateCounter("nativevq_errors_total", "Refused or failed requests by error kind (the \"error\" field of the JSON body).",
            new CounterConfiguration { LabelNames = ["kind"] });
        BatchSize = f.CreateHistogram("nativevq_batch_size", "Images per batched scoring pass.",
            new HistogramConfiguration { Buckets = Histogram.LinearBuckets(1, 1, maxBatch) });
        BatchSeconds = f.CreateHistogram("nativevq_batch_duration_seconds", "Time of one batched scoring pass.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 16) });
        QueueDepth = f.CreateGauge("nativevq_queue_depth", "Images waiting for the batch worker.");
        Ready = f.CreateGauge("nativevq_model_ready", "1 once the model is loaded.");
    }

    public CollectorRegistry Registry { get; }
    public Counter Requests { get; }
    public Histogram Latency { get; }
    public Counter Errors { get; }
    public Histogram BatchSize { get; }
    public Histogram BatchSeconds { get; }
    public Gauge QueueDepth { get; }
    public Gauge Ready { get; }
}
