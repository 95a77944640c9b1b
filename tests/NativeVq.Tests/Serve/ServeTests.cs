using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using NativeVq.Anomaly;
using NativeVq.Anomaly.Report;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Serve;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Serve;

/// <summary>
/// `nativevq serve` end to end: real Kestrel on 127.0.0.1 port 0, real HTTP, the tiny trained run of the console
/// collection.
/// </summary>
[Collection("console")]
public sealed class ServeTests : IAsyncLifetime
{
    private readonly List<ScoringServer> _servers = [];
    private readonly List<HttpClient> _clients = [];
    private readonly AnomalyModelScorer _scorer;
    /// <summary>PNG bodies: the run's 24 textures (half with a defect), then 8 of noise and flat grays.</summary>
    private readonly IReadOnlyList<byte[]> _images;

    public ServeTests(TinyRun run)
    {
        // Two restorations keep the maps cheap; everything else is the default of `nativevq serve`.
        _scorer = AnomalyModelScorer.Load(run.Run, CpuBackend.Instance, new AnomalyModelOptions { Scoring = new() { Restorations = 2 } });
        var pngs = Directory.GetFiles(run.Images, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
        var rng = new Random(5);
        for (int i = 0; i < 8; i++)
        {
            var img = new ImageF(1, 16, 16);
            for (int k = 0; k < img.Data.Length; k++) img.Data[k] = i % 2 == 0 ? rng.NextSingle() * 2 - 1 : i / 4f - 1;
            pngs.Add(PngData.Encode(img));
        }
        _images = pngs;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var c in _clients) c.Dispose();
        foreach (var s in _servers) await s.DisposeAsync();
        _scorer.Dispose();
    }

    private async Task<(ScoringServer Server, HttpClient Client)> Start(ServeOptions? options = null, IBatchScorer? scorer = null, bool ready = true)
    {
        var server = ScoringServer.Create((options ?? new ServeOptions()) with { Port = 0 });
        _servers.Add(server);
        if (ready) server.SetModel(scorer ?? _scorer);
        await server.StartAsync();
        var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        _clients.Add(client);
        return (server, client);
    }

    private static ByteArrayContent Body(byte[] bytes, string? type = "image/png")
    {
        var c = new ByteArrayContent(bytes);
        if (type is not null) c.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        return c;
    }

    private static async Task<JsonObject> Json(HttpResponseMessage r) => JsonNode.Parse(await r.Content.ReadAsStringAsync())!.AsObject();

    /// <summary>The server still answers and still scores after whatever the test did to it.</summary>
    private async Task AssertStillServing(HttpClient client)
    {
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        var r = await client.PostAsync("/v1/score", Body(_images[0]));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    private async Task AssertError(HttpResponseMessage r, HttpStatusCode status, string kind, string detailPart)
    {
        Assert.Equal(status, r.StatusCode);
        Assert.Equal("application/json", r.Content.Headers.ContentType?.MediaType);
        var j = await Json(r);
        Assert.Equal(kind, (string?)j["error"]);
        Assert.Contains(detailPart, (string?)j["detail"] ?? "");
    }

    [Fact]
    public async Task ScoresAnImageAsTheLibraryDoes()
    {
        var (_, client) = await Start();
        var r = await client.PostAsync("/v1/score", Body(_images[3]));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var j = await Json(r);
        var expected = _scorer.ScoreBatch([Decode(_images[3])], maps: false)[0];
        Assert.Equal(expected.Score, (double)j["score"]!);
        Assert.Equal(_scorer.Threshold, (double)j["threshold"]!);
        Assert.Equal(expected.Score > _scorer.Threshold, (bool)j["is_anomalous"]!);
        Assert.Null(j["map_png_base64"]);

        // ?map=png adds the heat map; /v1/map returns the same picture as image/png with the score in headers.
        var withMap = await Json(await client.PostAsync("/v1/score?map=png", Body(_images[3])));
        var png = Convert.FromBase64String((string)withMap["map_png_base64"]!);
        Assert.Equal(expected.Score, (double)withMap["score"]!);
        var decoded = ImageIO.Decode(png, "map", 3);
        Assert.Equal((16, 16), (decoded.Width, decoded.Height));
        var mapResponse = await client.PostAsync("/v1/map", Body(_images[3]));
        Assert.Equal("image/png", mapResponse.Content.Headers.ContentType?.MediaType);
        Assert.Equal(png, await mapResponse.Content.ReadAsByteArrayAsync());
        Assert.Equal(expected.Score, double.Parse(mapResponse.Headers.GetValues("X-Anomaly-Score").Single(), System.Globalization.CultureInfo.InvariantCulture));
    }

    private ImageF Decode(byte[] png)
    {
        var img = new ImageF(_scorer.Channels, _scorer.ImageSize, _scorer.ImageSize);
        ImageIO.LoadInto(png, "test", img.Data, new ImageLoadOptions { Size = _scorer.ImageSize, Channels = _scorer.Channels });
        return img;
    }

    [Fact]
    public async Task ConcurrentRequestsAreBatchedAndGetTheSameResultsAsAlone()
    {
        // A long gathering window makes the 8 concurrent requests share batches even on a loaded machine (the 8th fills
        // the batch, so the window costs nothing when all arrive).
        var (batched, client) = await Start(new ServeOptions { MaxBatch = 8, MaxBatchDelayMs = 3000 });
        var images = _images.Take(4).Concat(_images.TakeLast(4)).ToArray();
        var together = await Task.WhenAll(images.Select(async png => await Json(await client.PostAsync("/v1/score?map=png", Body(png)))));
        double batches = batched.Metrics.BatchSize.Count, imagesScored = batched.Metrics.BatchSize.Sum;
        Assert.Equal(8, imagesScored);
        Assert.True(batches < 8, $"8 concurrent requests ran in {batches} batches: nothing was batched");

        var (_, alone) = await Start(new ServeOptions { MaxBatch = 1 });
        for (int i = 0; i < images.Length; i++)
        {
            var one = await Json(await alone.PostAsync("/v1/score?map=png", Body(images[i])));
            Assert.Equal((double)one["score"]!, (double)together[i]["score"]!);
            Assert.Equal((double)one["total_nll"]!, (double)together[i]["total_nll"]!);
            Assert.Equal((string)one["map_png_base64"]!, (string)together[i]["map_png_base64"]!);
        }
        // The images differ, so equal results are not an accident of identical inputs.
        Assert.True(together.Select(t => (double)t["total_nll"]!).Distinct().Count() > 1);
    }

    [Fact]
    public async Task EveryKindOfBadRequestGetsAJsonErrorAndTheServerKeepsServing()
    {
        var (server, client) = await Start(new ServeOptions { MaxBodyBytes = 4000, MaxPixels = 64 * 64 });
        var png = _images[1];

        await AssertError(await client.PostAsync("/v1/score", Body(Encoding.UTF8.GetBytes("hello, I am not a picture"))), HttpStatusCode.BadRequest, "not_an_image", "not a PNG, JPEG or BMP");
        await AssertError(await client.PostAsync("/v1/score", Body([])), HttpStatusCode.BadRequest, "not_an_image", "empty");
        await AssertError(await client.PostAsync("/v1/score", Body(png[..(png.Length / 2)])), HttpStatusCode.BadRequest, "invalid_image", "truncated");
        var corrupt = (byte[])png.Clone();
        corrupt[^20] ^= 0xFF;
        await AssertError(await client.PostAsync("/v1/score", Body(corrupt)), HttpStatusCode.BadRequest, "invalid_image", "CRC");
        await AssertError(await client.PostAsync("/v1/score", Body(new byte[5000])), HttpStatusCode.RequestEntityTooLarge, "body_too_large", "limit of 4000 bytes");
        // Without a Content-Length (chunked), Kestrel stops the read at the limit.
        var chunked = new HttpRequestMessage(HttpMethod.Post, "/v1/score") { Content = Body(new byte[5000]) };
        chunked.Headers.TransferEncodingChunked = true;
        await AssertError(await client.SendAsync(chunked), HttpStatusCode.RequestEntityTooLarge, "body_too_large", "limit of 4000 bytes");
        // A small file announcing many pixels (all black: compresses to almost nothing).
        var big = new MemoryStream();
        new StbImageWriteSharp.ImageWriter().WritePng(new byte[100 * 100], 100, 100, StbImageWriteSharp.ColorComponents.Grey, big);
        Assert.True(big.Length < 4000);
        await AssertError(await client.PostAsync("/v1/score", Body(big.ToArray())), HttpStatusCode.RequestEntityTooLarge, "too_many_pixels", "100x100");
        await AssertError(await client.PostAsync("/v1/score", Body(png, "text/plain")), HttpStatusCode.UnsupportedMediaType, "unsupported_media_type", "text/plain");
        await AssertError(await client.PostAsync("/v1/score", Body(png, null)), HttpStatusCode.UnsupportedMediaType, "unsupported_media_type", "no Content-Type");
        await AssertError(await client.PostAsync("/v1/score", Body(png, "image/jpeg")), HttpStatusCode.UnsupportedMediaType, "unsupported_media_type", "body is a PNG");
        await AssertError(await client.PostAsync("/v1/score?map=jpeg", Body(png)), HttpStatusCode.BadRequest, "bad_parameter", "map must be");
        await AssertError(await client.GetAsync("/v1/nothing-here"), HttpStatusCode.NotFound, "not_found", "/v1/nothing-here");
        await AssertError(await client.GetAsync("/v1/score"), HttpStatusCode.MethodNotAllowed, "method_not_allowed", "GET");
        // application/octet-stream is accepted: the format is sniffed.
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/score", Body(png, "application/octet-stream"))).StatusCode);

        await AssertStillServing(client);
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("nativevq_errors_total{kind=\"invalid_image\"} 2", metrics);
        Assert.Contains("nativevq_http_requests_total{route=\"/v1/score\",status=\"415\"} 3", metrics);
        Assert.Contains("nativevq_batch_size_count", metrics);
        Assert.Contains("nativevq_http_request_duration_seconds_bucket{route=\"/v1/score\"", metrics);
        Assert.True(server.Ready);
    }

    [Fact]
    public async Task SlowClientsAreCutOffAndOthersAreServed()
    {
        var (server, client) = await Start(new ServeOptions
        {
            RequestHeadersTimeout = TimeSpan.FromSeconds(2),
            MinBodyBytesPerSecond = 2000,
            MinBodyRateGrace = TimeSpan.FromSeconds(2),
        });
        // Slow body: announce 100 kB, send 10 bytes, stall.
        using var body = new TcpClient();
        await body.ConnectAsync(server.Address!.Host, server.Address.Port);
        var bs = body.GetStream();
        await bs.WriteAsync(Encoding.ASCII.GetBytes($"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"));
        await bs.WriteAsync(_images[0].AsMemory(0, 10));
        // Slow headers: half a request line, then nothing.
        using var headers = new TcpClient();
        await headers.ConnectAsync(server.Address.Host, server.Address.Port);
        var hs = headers.GetStream();
        await hs.WriteAsync(Encoding.ASCII.GetBytes("POST /v1/sco"));

        await AssertStillServing(client);   // while both stall

        var bodyReply = await ReadUntilClosed(bs, TimeSpan.FromSeconds(20));
        Assert.StartsWith("HTTP/1.1 408", bodyReply);
        Assert.Contains("\"error\":\"request_timeout\"", bodyReply);
        var headerReply = await ReadUntilClosed(hs, TimeSpan.FromSeconds(20));
        Assert.True(headerReply.Length == 0 || headerReply.StartsWith("HTTP/1.1 408"), headerReply);
        await AssertStillServing(client);
    }

    private static async Task<string> ReadUntilClosed(NetworkStream s, TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        try
        {
            int n;
            while ((n = await s.ReadAsync(chunk, cts.Token)) > 0) buffer.Write(chunk, 0, n);
        }
        catch (IOException) { } // reset by the server: what was read so far is the answer
        catch (OperationCanceledException) { throw new TimeoutException($"the server kept a stalled connection open for {limit.TotalSeconds} s"); }
        return Encoding.ASCII.GetString(buffer.ToArray());
    }

    [Fact]
    public async Task BearerTokenIsRequiredExceptOnTheProbes()
    {
        var (_, client) = await Start(new ServeOptions { Token = "s3cret-token" });
        await AssertError(await client.PostAsync("/v1/score", Body(_images[0])), HttpStatusCode.Unauthorized, "unauthorized", "bearer token");
        var wrong = new HttpRequestMessage(HttpMethod.Post, "/v1/score") { Content = Body(_images[0]) };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-tokem");
        await AssertError(await client.SendAsync(wrong), HttpStatusCode.Unauthorized, "unauthorized", "bearer token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/metrics")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);

        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-token");
        await AssertStillServing(client);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public void TokenFileIsReadTrimmedAndAnEmptyOneIsRefused()
    {
        var file = Path.Combine(Path.GetTempPath(), "nvq-token-" + Guid.NewGuid().ToString("N"));
        try
        {
            File.WriteAllText(file, "abc123\n");
            Assert.Equal("abc123", BearerAuth.ReadTokenFile(file));
            File.WriteAllText(file, " \n");
            Assert.Contains("empty", Assert.Throws<UserError>(() => BearerAuth.ReadTokenFile(file)).Message);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public async Task AFullQueueAnswers503WithRetryAfter()
    {
        var gate = new GatedScorer(_scorer);
        var (server, client) = await Start(new ServeOptions { MaxQueue = 1, MaxBatch = 1, MaxBatchDelayMs = 0 }, gate);
        var first = client.PostAsync("/v1/score", Body(_images[0]));
        Assert.True(await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30)));         // the worker holds the first image
        var second = client.PostAsync("/v1/score", Body(_images[1]));
        await WaitFor(() => server.Metrics.QueueDepth.Value == 1);       // the second waits in the queue
        var third = await client.PostAsync("/v1/score", Body(_images[2]));
        await AssertError(third, HttpStatusCode.ServiceUnavailable, "queue_full", "queue is full");
        Assert.Equal("1", third.Headers.GetValues("Retry-After").Single());

        gate.Open();
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);
        await AssertStillServing(client);
    }

    [Fact]
    public async Task StoppingFinishesTheRequestsInFlight()
    {
        var gate = new GatedScorer(_scorer);
        var (server, client) = await Start(new ServeOptions(), gate);
        var inFlight = client.PostAsync("/v1/score", Body(_images[0]));
        Assert.True(await gate.Entered.WaitAsync(TimeSpan.FromSeconds(30)));
        var stopping = server.StopAsync();
        await Task.Delay(200);
        Assert.False(stopping.IsCompleted, "the server stopped with a request in flight");
        gate.Open();
        var r = await inFlight;
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.NotNull((await Json(r))["score"]);
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task ProbesSayWhetherTheModelIsLoaded()
    {
        var (server, client) = await Start(ready: false);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        await AssertError(await client.GetAsync("/readyz"), HttpStatusCode.ServiceUnavailable, "not_ready", "loading");
        await AssertError(await client.PostAsync("/v1/score", Body(_images[0])), HttpStatusCode.ServiceUnavailable, "not_ready", "loading");
        server.SetModel(_scorer);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
        var info = await Json(await client.GetAsync("/v1/model"));
        Assert.Equal(16, (int)info["image_size"]!);
        await AssertStillServing(client);
    }

    [Fact]
    public void TheCommandRefusesBadOptionsAndAMissingRunInOneLine()
    {
        var missing = Path.Combine(Path.GetTempPath(), "nvq-no-such-run-" + Guid.NewGuid().ToString("N"));
        var (code, _, err) = InProcessCli.Run("serve", "--model", missing, "--port", "0", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("does not exist", err);
        (code, _, err) = InProcessCli.Run("serve", "--model", missing, "--max-batch", "0");
        Assert.Equal(1, code);
        Assert.Contains("--max-batch must be at least 1", err);
        // Serve's numeric options go through the same up-front check as every other command's.
        (code, _, err) = InProcessCli.Run("serve", "--model", missing, "--max-batch-delay-ms", "NaN");
        Assert.Equal(1, code);
        Assert.Contains("--max-batch-delay-ms", err);
        (code, _, err) = InProcessCli.Run("serve", "--model", missing, "--host", "example.com");
        Assert.Equal(1, code);
        Assert.Contains("--host must be an IP address", err);
        (code, _, err) = InProcessCli.Run("serve", "--model", missing, "--token-file", missing);
        Assert.Equal(1, code);
        Assert.Contains("--token-file", err);
        Assert.DoesNotContain("   at ", err);
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        for (int i = 0; i < 600 && !condition(); i++) await Task.Delay(50);
        Assert.True(condition(), "timed out waiting");
    }

    /// <summary>The real scorer behind a gate the test opens: holds the batch worker to fill the queue or to stop mid-request.</summary>
    private sealed class GatedScorer(IBatchScorer inner) : IBatchScorer
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public SemaphoreSlim Entered { get; } = new(0);
        public int ImageSize => inner.ImageSize;
        public int Channels => inner.Channels;
        public double Threshold => inner.Threshold;
        public void Open() => _open.TrySetResult();

        public IReadOnlyList<ServedScore> ScoreBatch(IReadOnlyList<ImageF> images, bool maps)
        {
            Entered.Release();
            _open.Task.Wait(TimeSpan.FromSeconds(60));
            return inner.ScoreBatch(images, maps);
        }
    }
}
