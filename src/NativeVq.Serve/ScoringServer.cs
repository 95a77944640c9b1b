using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NativeVq.Anomaly.Report;
using NativeVq.Data;
using Prometheus;

namespace NativeVq.Serve;

/// <summary>
/// `nativevq serve`: an ASP.NET Core minimal API over one loaded model (docs/serve.md). The server starts before
/// the model is loaded (/healthz answers, /readyz says 503 until <see cref="SetModel"/>), reads and validates each
/// request body on the request's own thread, and hands decoded images to the <see cref="BatchQueue"/>.
/// </summary>
public sealed class ScoringServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ServeOptions _options;
    private readonly BatchQueue _queue;
    private readonly ImageIntake _intake;
    private readonly BearerAuth? _auth;
    private readonly Action<string> _log;
    private volatile IBatchScorer? _scorer;

    private ScoringServer(ServeOptions options, Action<string>? log)
    {
        options.Validate();
        _options = options;
        _log = log ?? (_ => { });
        Metrics = new ServeMetrics(options.MaxBatch);
        _intake = new ImageIntake(options);
        _auth = options.Token is { } t ? new BearerAuth(t) : null;
        _queue = new BatchQueue(() => _scorer ?? throw ApiError.NotReady(), options, Metrics);

        // The empty builder reads no appsettings.json or ASPNETCORE_* variables: what binds where is only what
        // the options say.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.Listen(options.Host, options.Port);
            k.AddServerHeader = false;
            // Twice the application's limit: ImageIntake refuses at the limit, and Kestrel can still drain a body
            // somewhat over it, so the client reads the 413 rather than a reset of a connection it is writing to.
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes > long.MaxValue / 2 ? long.MaxValue : 2 * options.MaxBodyBytes;
            k.Limits.MaxConcurrentConnections = options.MaxConnections;
            k.Limits.RequestHeadersTimeout = options.RequestHeadersTimeout;
            k.Limits.MinRequestBodyDataRate = new MinDataRate(options.MinBodyBytesPerSecond, options.MinBodyRateGrace);
        });
        builder.Services.AddRoutingCore();
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        _app = builder.Build();
        _app.Use(Observe);
        _app.Use(Authenticate);
        _app.UseStatusCodePages(ctx => EmptyStatusAsJson(ctx.HttpContext));
        _app.UseRouting();
        _app.MapGet("/healthz", ctx => Json(ctx, new JsonObject { ["status"] = "ok" }));
        _app.MapGet("/readyz", Readyz);
        _app.MapGet("/v1/model", ModelInfo);
        _app.MapPost("/v1/score", Score);
        _app.MapPost("/v1/map", Map);
        _app.MapMetrics("/metrics", Metrics.Registry);
    }

    /// <summary>Builds the server; nothing listens until <see cref="StartAsync"/>.</summary>
    public static ScoringServer Create(ServeOptions options, Action<string>? log = null) => new(options, log);

    public ServeMetrics Metrics { get; }

    public bool Ready => _scorer is not null;

    /// <summary>Makes the server ready: scoring requests are accepted from now on.</summary>
    public void SetModel(IBatchScorer scorer)
    {
        _scorer = scorer;
        Metrics.Ready.Set(1);
    }

    public async Task StartAsync(CancellationToken ct = default)
    {
        await _app.StartAsync(ct);
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        Address = new Uri(addresses.First());
        _log($"listening on {Address}{(_auth is null ? "" : " (bearer token required)")}");
    }

    /// <summary>The bound address (the real port when 0 was asked for); set by <see cref="StartAsync"/>.</summary>
    public Uri? Address { get; private set; }

    /// <summary>Triggers on Ctrl+C / SIGTERM (the host's lifetime), for the CLI to wait on.</summary>
    public Task WaitForShutdownAsync(CancellationToken ct = default) => _app.WaitForShutdownAsync(ct);

    /// <summary>Graceful stop: no new connections; in-flight requests finish (up to the shutdown timeout); then the batch worker drains.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        await _app.StopAsync(ct);
        await _queue.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _queue.DisposeAsync();
        await _app.DisposeAsync();
    }

    // ---- middleware ----

    /// <summary>Outermost: turns refusals into JSON errors, and records count, latency and error kind of every request.</summary>
    private async Task Observe(HttpContext ctx, RequestDelegate next)
    {
        var clock = Stopwatch.StartNew();
        try { await next(ctx); }
        catch (ApiError e) when (!ctx.Response.HasStarted) { await e.Write(ctx); }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { ctx.Items[ApiError.ErrorKindKey] = "client_gone"; }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            _log($"internal error on {ctx.Request.Method} {ctx.Request.Path}: {e.GetType().Name}: {e.Message}");
            await ApiError.Write(ctx, StatusCodes.Status500InternalServerError, "internal", "the server failed to score the image; see its log");
        }
        finally
        {
            string route = (ctx.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            Metrics.Requests.WithLabels(route, ctx.Response.StatusCode.ToString(CultureInfo.InvariantCulture)).Inc();
            Metrics.Latency.WithLabels(route).Observe(clock.Elapsed.TotalSeconds);
            if (ctx.Items[ApiError.ErrorKindKey] is string kind) Metrics.Errors.WithLabels(kind).Inc();
        }
    }

    private Task Authenticate(HttpContext ctx, RequestDelegate next)
    {
        if (_auth is null || BearerAuth.IsOpen(ctx.Request.Path) || _auth.Allows(ctx.Request)) return next(ctx);
        ctx.Response.Headers.WWWAuthenticate = "Bearer";
        throw ApiError.Unauthorized("missing or wrong bearer token (send 'Authorization: Bearer <token>')");
    }

    /// <summary>404, 405 and other bodiless statuses from routing get the same JSON shape as every other error.</summary>
    private static Task EmptyStatusAsJson(HttpContext ctx)
    {
        int status = ctx.Response.StatusCode;
        (string kind, string detail) = status switch
        {
            404 => ("not_found", $"no endpoint {ctx.Request.Path}; see docs/serve.md"),
            405 => ("method_not_allowed", $"{ctx.Request.Method} is not allowed on {ctx.Request.Path}"),
            _ => ($"http_{status}", ReasonPhrases.GetReasonPhrase(status)),
        };
        return ApiError.Write(ctx, status, kind, detail);
    }

    // ---- endpoints ----

    private Task Readyz(HttpContext ctx)
    {
        if (_scorer is null) throw ApiError.NotReady();
        return Json(ctx, new JsonObject { ["status"] = "ready" });
    }

    private Task ModelInfo(HttpContext ctx)
    {
        var s = _scorer ?? throw ApiError.NotReady();
        return Json(ctx, new JsonObject
        {
            ["image_size"] = s.ImageSize,
            ["channels"] = s.Channels,
            ["threshold"] = s.Threshold,
            ["max_batch"] = _options.MaxBatch,
            ["max_body_bytes"] = _options.MaxBodyBytes,
            ["max_pixels"] = _options.MaxPixels,
        });
    }

    private async Task Score(HttpContext ctx)
    {
        bool map = ctx.Request.Query["map"].ToString() switch
        {
            "" => false,
            "png" => true,
            var v => throw ApiError.BadParameter($"map must be 'png' (heat map as base64 PNG) or absent, got '{v}'"),
        };
        var (image, result) = await ScoreRequest(ctx, map);
        var o = new JsonObject
        {
            ["score"] = result.Score,
            ["threshold"] = result.Threshold,
            ["is_anomalous"] = result.IsAnomalous,
            ["total_nll"] = result.TotalNll,
            ["resampled_codes"] = result.ResampledCodes,
        };
        if (map) o["map_png_base64"] = Convert.ToBase64String(MapPng(image, result));
        await Json(ctx, o);
    }

    private async Task Map(HttpContext ctx)
    {
        var (image, result) = await ScoreRequest(ctx, map: true);
        var png = MapPng(image, result);
        ctx.Response.ContentType = "image/png";
        // The decision travels in headers so a client of the image alone still gets it.
        ctx.Response.Headers["X-Anomaly-Score"] = result.Score.ToString("R", CultureInfo.InvariantCulture);
        ctx.Response.Headers["X-Anomaly-Threshold"] = result.Threshold.ToString("R", CultureInfo.InvariantCulture);
        ctx.Response.Headers["X-Is-Anomalous"] = result.IsAnomalous ? "true" : "false";
        await ctx.Response.Body.WriteAsync(png, ctx.RequestAborted);
    }

    private async Task<(ImageF Image, ServedScore Result)> ScoreRequest(HttpContext ctx, bool map)
    {
        var scorer = _scorer ?? throw ApiError.NotReady();
        var image = await _intake.Read(ctx.Request, scorer.Channels, scorer.ImageSize);
        var result = await _queue.Score(image, map, ctx.RequestAborted).WaitAsync(ctx.RequestAborted);
        return (image, result);
    }

    /// <summary>The pixel map over the (resized) input, as `nativevq score` draws it.</summary>
    private static byte[] MapPng(ImageF image, ServedScore result)
    {
        var map = result.Map ?? throw new InvalidOperationException("the scorer returned no map although one was asked for");
        return PngData.Encode(HeatMap.Overlay(image, map, image.Height, image.Width));
    }

    private static Task Json(HttpContext ctx, JsonObject body)
    {
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(body.ToJsonString(), ctx.RequestAborted);
    }
}
