using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using NativeVq.Data;

namespace NativeVq.Serve;

/// <summary>
/// Turns a request body into a model input, refusing anything else with a 4xx <see cref="ApiError"/>: the
/// Content-Type is checked, the body is read up to the size limit, the format is sniffed from the bytes, the
/// pixel count is checked from the header before decoding, and the project's own validation (ImageIO) refuses
/// truncated or corrupt files. Decoding is limited to <see cref="ServeOptions.MaxDecoders"/> at once, which bounds
/// the memory decoded pixels take.
/// </summary>
public sealed class ImageIntake(ServeOptions options)
{
    private readonly SemaphoreSlim _decoders = new(options.MaxDecoders);

    /// <summary>Content types accepted, and the format each promises (null: any of the three, sniffed).</summary>
    private static readonly Dictionary<string, ImageFormat?> Accepted = new(StringComparer.OrdinalIgnoreCase)
    {
        ["image/png"] = ImageFormat.Png,
        ["image/jpeg"] = ImageFormat.Jpeg,
        ["image/jpg"] = ImageFormat.Jpeg,
        ["image/bmp"] = ImageFormat.Bmp,
        ["image/x-ms-bmp"] = ImageFormat.Bmp,
        ["application/octet-stream"] = null,
    };

    public async Task<ImageF> Read(HttpRequest request, int channels, int size)
    {
        var declared = CheckContentType(request.ContentType);
        var body = await ReadBody(request);
        await _decoders.WaitAsync(request.HttpContext.RequestAborted);
        try { return Decode(body, declared, channels, size); }
        finally { _decoders.Release(); }
    }

    private static ImageFormat? CheckContentType(string? header)
    {
        const string expected = "image/png, image/jpeg, image/bmp or application/octet-stream";
        if (string.IsNullOrWhiteSpace(header)) throw ApiError.UnsupportedMediaType($"no Content-Type header; send {expected}");
        if (!MediaTypeHeaderValue.TryParse(header, out var media) || media.MediaType.Value is not { } type)
            throw ApiError.UnsupportedMediaType($"Content-Type '{header}' is not a media type; send {expected}");
        if (!Accepted.TryGetValue(type, out var format))
            throw ApiError.UnsupportedMediaType($"Content-Type '{type}' is not accepted; send {expected}");
        return format;
    }

    private async Task<byte[]> ReadBody(HttpRequest request)
    {
        long limit = options.MaxBodyBytes;
        if (request.ContentLength is long announced && announced > limit)
            throw ApiError.BodyTooLarge($"the body is {announced} bytes, above the limit of {limit} bytes (--max-body-mb)");
        using var buffer = new MemoryStream((int)Math.Min(request.ContentLength ?? 1 << 16, limit));
        var chunk = new byte[1 << 16];
        try
        {
            int n;
            while ((n = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
            {
                // Stop buffering at the limit; Kestrel drains the rest (up to its own, larger limit) so that the
                // client reads the 413 instead of a connection reset.
                if (buffer.Length + n > limit) throw ApiError.BodyTooLarge($"the body is above the limit of {limit} bytes (--max-body-mb)");
                buffer.Write(chunk, 0, n);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw ApiError.BodyTooLarge($"the body is above the limit of {limit} bytes (--max-body-mb)");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status408RequestTimeout)
        {
            throw new ApiError(StatusCodes.Status408RequestTimeout, "request_timeout",
                $"the body arrived slower than {options.MinBodyBytesPerSecond} bytes/s; the request was dropped");
        }
        catch (BadHttpRequestException e)
        {
            throw new ApiError(e.StatusCode, "bad_request", e.Message);
        }
        if (buffer.Length == 0) throw ApiError.NotAnImage("the body is empty; send the image file's bytes");
        return buffer.ToArray();
    }

    private ImageF Decode(byte[] body, ImageFormat? declared, int channels, int size)
    {
        var format = ImageValidation.Sniff(body)
            ?? throw ApiError.NotAnImage($"the body ({body.Length} bytes) is not a PNG, JPEG or BMP file (unknown signature)");
        if (declared is { } d && d != format)
            throw ApiError.UnsupportedMediaType($"Content-Type says {d.ToString().ToUpperInvariant()} but the body is a {format.ToString().ToUpperInvariant()} file");
        if (ImageValidation.HeaderSize(format, body) is var (w, h) && w * h > options.MaxPixels)
            throw ApiError.TooManyPixels($"the image is {w}x{h} = {w * h / 1e6:0.#} megapixels, above the limit of {options.MaxPixels / 1e6:0.#} (--max-pixels)");
        var chw = new ImageF(channels, size, size);
        // The same decoding, validation and resize (central square crop, then resampling) as AnomalyModel.DecodeImage.
        try { ImageIO.LoadInto(body, "request body", chw.Data, new ImageLoadOptions { Size = size, Channels = channels, MaxPixels = options.MaxPixels }); }
        catch (UserError e) { throw ApiError.InvalidImage(e.Message); }
        return chw;
    }
}
