using System.Net;

namespace NativeVq.Serve;

/// <summary>Everything `nativevq serve` can be told; the defaults are the documented ones (docs/serve.md).</summary>
public sealed record ServeOptions
{
    /// <summary>Address to bind. Loopback by default: exposing the server is an explicit decision.</summary>
    public IPAddress Host { get; init; } = IPAddress.Loopback;
    /// <summary>TCP port; 0 picks a free one (tests, the load bench).</summary>
    public int Port { get; init; } = 8080;
    /// <summary>Most images gathered into one batched scoring pass.</summary>
    public int MaxBatch { get; init; } = 16;
    /// <summary>How long the batch worker waits for more requests after the first one of a batch arrives.</summary>
    public double MaxBatchDelayMs { get; init; } = 5;
    /// <summary>Largest request body; bigger ones get 413 before they are read.</summary>
    public long MaxBodyBytes { get; init; } = 32L << 20;
    /// <summary>Decoded images waiting for the batch worker; when full, requests get 503 with Retry-After.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>Images whose header announces more pixels than this are refused before decoding (decompression bombs).</summary>
    public long MaxPixels { get; init; } = 16_000_000;
    /// <summary>Most open connections; with <see cref="MaxBodyBytes"/> this bounds the memory held by bodies being read.</summary>
    public int MaxConnections { get; init; } = 128;
    /// <summary>Most images decoded at once (decoding allocates width·height·channels bytes plus the float copy).</summary>
    public int MaxDecoders { get; init; } = Math.Max(2, Environment.ProcessorCount);
    /// <summary>Bearer token required on every endpoint but /healthz and /readyz; null = no authentication.</summary>
    public string? Token { get; init; }
    /// <summary>Slow-client protection: a client must send its headers within this time...</summary>
    public TimeSpan RequestHeadersTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>...and its body at no less than this rate once <see cref="MinBodyRateGrace"/> has passed.</summary>
    public double MinBodyBytesPerSecond { get; init; } = 1024;
    public TimeSpan MinBodyRateGrace { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>How long a shutdown waits for in-flight requests to finish.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public void Validate()
    {
        if (Port is < 0 or > 65535) throw new UserError($"--port must be 0..65535, got {Port}");
        if (MaxBatch < 1) throw new UserError($"--max-batch must be at least 1, got {MaxBatch}");
        if (MaxBatchDelayMs is < 0 or > 10_000) throw new UserError($"--max-batch-delay-ms must be 0..10000, got {MaxBatchDelayMs}");
        if (MaxBodyBytes < 1) throw new UserError($"--max-body-mb must be positive, got {MaxBodyBytes / 1048576.0} MiB");
        if (MaxQueue < 1) throw new UserError($"--max-queue must be at least 1, got {MaxQueue}");
        if (MaxPixels < 1) throw new UserError($"--max-pixels must be positive, got {MaxPixels}");
        if (MaxConnections < 1) throw new UserError($"--max-connections must be at least 1, got {MaxConnections}");
        if (Token is { Length: 0 }) throw new UserError("the bearer token is empty");
    }
}
