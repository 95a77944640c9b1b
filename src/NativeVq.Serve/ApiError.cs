using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace NativeVq.Serve;

/// <summary>
/// A request the server refuses: an HTTP status, a stable machine-readable kind (also the label of the
/// errors metric) and a one-line detail naming the problem. Written as {"error": kind, "detail": detail}.
/// </summary>
public sealed class ApiError(int status, string kind, string detail) : Exception(detail)
{
    public int Status => status;
    public string Kind => kind;
    /// <summary>Seconds a client should wait before retrying (503 only).</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiError UnsupportedMediaType(string detail) => new(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", detail);
    public static ApiError BodyTooLarge(string detail) => new(StatusCodes.Status413PayloadTooLarge, "body_too_large", detail);
    public static ApiError TooManyPixels(string detail) => new(StatusCodes.Status413PayloadTooLarge, "too_many_pixels", detail);
    public static ApiError NotAnImage(string detail) => new(StatusCodes.Status400BadRequest, "not_an_image", detail);
    public static ApiError InvalidImage(string detail) => new(StatusCodes.Status400BadRequest, "invalid_image", detail);
    public static ApiError BadParameter(string detail) => new(StatusCodes.Status400BadRequest, "bad_parameter", detail);
    public static ApiError Unauthorized(string detail) => new(StatusCodes.Status401Unauthorized, "unauthorized", detail);
    public static ApiError QueueFull(int capacity) => new(StatusCodes.Status503ServiceUnavailable, "queue_full",
        $"the scoring queue is full ({capacity} images waiting); retry shortly") { RetryAfterSeconds = 1 };
    public static ApiError NotReady() => new(StatusCodes.Status503ServiceUnavailable, "not_ready", "the model is still loading") { RetryAfterSeconds = 1 };

    public static async Task Write(HttpContext ctx, int status, string kind, string detail, int? retryAfter = null)
    {
        ctx.Response.StatusCode = status;
        if (retryAfter is int s) ctx.Response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        ctx.Response.ContentType = "application/json";
        ctx.Items[ErrorKindKey] = kind;
        await ctx.Response.WriteAsync(new JsonObject { ["error"] = kind, ["detail"] = detail }.ToJsonString(), ctx.RequestAborted);
    }

    public Task Write(HttpContext ctx) => Write(ctx, Status, Kind, Message, RetryAfterSeconds);

    /// <summary>HttpContext.Items key under which the error kind of a refused request is left for the metrics.</summary>
    public const string ErrorKindKey = "nativevq.error";
}
