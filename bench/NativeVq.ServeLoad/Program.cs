using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;
using StbImageWriteSharp;

// Load client for `nativevq serve` (bench/serve_load.sh runs it): after a 3 s warm-up that is not counted, N clients
// post images to /v1/score for T seconds, each waiting for its answer before sending the next (closed loop), and one
// JSON document is printed: throughput, mean batch size,
// latency percentiles of the good requests, error counts, the server's peak RSS. With --bad-fraction, that share
// of requests is malformed (garbage, truncated PNG, wrong Content-Type, a body over the limit, too many pixels):
// each must get a 4xx and no good request may fail. Loopback only; clients and duration are bounded.
var o = Args.Parse(args);
if (o is null) return 2;
var url = new Uri(o.Url);
if (!url.IsLoopback) { Console.Error.WriteLine($"--url must be a loopback address, got {url.Host}"); return 2; }

using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(60) };
if (o.Token is { } token) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
var model = await WaitReady(http, TimeSpan.FromSeconds(o.WaitReadySeconds));
int size = (int)model["image_size"]!, channels = (int)model["channels"]!;
long maxBody = (long)model["max_body_bytes"]!, maxPixels = (long)model["max_pixels"]!;

var good = Requests.Good(size, channels, 64);
var bad = Requests.Bad(good[0], maxBody, maxPixels);
// Warm-up (not counted): the server's first requests run tier-0 JIT code.
await Drive(TimeSpan.FromSeconds(o.WarmupSeconds));
var (batches0, batched0) = await BatchCounts(http);
var (all, elapsed) = await Drive(TimeSpan.FromSeconds(o.Seconds));
var (batches1, batched1) = await BatchCounts(http);

async Task<(List<Sample> All, double Seconds)> Drive(TimeSpan deadline)
{
    var results = new List<Sample>[o.Clients];
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, o.Clients).Select(c => Task.Run(async () =>
    {
        var rng = new Random(1000 + c);
        var mine = results[c] = [];
        while (clock.Elapsed < deadline)
        {
            bool isBad = rng.NextDouble() < o.BadFraction;
            var (kind, body, type) = isBad ? bad[rng.Next(bad.Length)] : ("good", good[rng.Next(good.Length)], "image/png");
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
            var t = Stopwatch.GetTimestamp();
            int status;
            try
            {
                using var r = await http.PostAsync(o.Map ? "/v1/score?map=png" : "/v1/score", content);
                await r.Content.ReadAsByteArrayAsync();
                status = (int)r.StatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException) { status = 0; }
            mine.Add(new Sample(kind, status, Stopwatch.GetElapsedTime(t).TotalMilliseconds));
        }
    })));
    return (results.SelectMany(r => r).ToList(), clock.Elapsed.TotalSeconds);
}

var goods = all.Where(s => s.Kind == "good").ToList();
var ok = goods.Where(s => s.Status == 200).Select(s => s.Ms).Order().ToArray();
var bads = all.Where(s => s.Kind != "good").ToList();
var doc = new JsonObject
{
    ["clients"] = o.Clients,
    ["seconds"] = Math.Round(elapsed, 2),
    ["warmup_seconds"] = o.WarmupSeconds,
    ["bad_fraction"] = o.BadFraction,
    ["maps"] = o.Map,
    ["image"] = $"{channels}x{size}x{size} PNG",
    ["requests"] = all.Count,
    ["good_requests"] = goods.Count,
    ["good_ok"] = ok.Length,
    ["good_failed"] = goods.Count - ok.Length,
    ["good_failed_by_status"] = ByStatus(goods.Where(s => s.Status != 200)),
    ["throughput_rps"] = Math.Round(ok.Length / elapsed, 2),
    ["latency_ms"] = new JsonObject
    {
        ["p50"] = Percentile(ok, 50), ["p95"] = Percentile(ok, 95), ["p99"] = Percentile(ok, 99),
        ["max"] = ok.Length > 0 ? Math.Round(ok[^1], 1) : null,
    },
    ["mean_batch_size"] = batches1 > batches0 ? Math.Round((batched1 - batched0) / (batches1 - batches0), 2) : null,
    ["bad_requests"] = bads.Count,
    ["bad_by_kind_and_status"] = new JsonObject(bads.GroupBy(s => s.Kind).OrderBy(g => g.Key)
        .Select(g => KeyValuePair.Create(g.Key, (JsonNode?)ByStatus(g)))),
    ["bad_not_4xx"] = bads.Count(s => s.Status is < 400 or >= 500),
    ["server_peak_rss_mb"] = o.ServerPid is int pid ? PeakRssMb(pid) : null,
};
Console.WriteLine(doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
return doc["good_failed"]!.GetValue<int>() == 0 && doc["bad_not_4xx"]!.GetValue<int>() == 0 ? 0 : 1;

static JsonObject ByStatus(IEnumerable<Sample> s) => new(s.GroupBy(x => x.Status).OrderBy(g => g.Key)
    .Select(g => KeyValuePair.Create(g.Key == 0 ? "no_response" : g.Key.ToString(CultureInfo.InvariantCulture), (JsonNode?)g.Count())));

static double? Percentile(double[] sorted, double p)
    => sorted.Length == 0 ? null : Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)], 1);

// VmHWM: the peak resident set of the server process since it started (Linux).
static double? PeakRssMb(int pid)
{
    var status = $"/proc/{pid}/status";
    if (!File.Exists(status)) return null;
    var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
    return line is null ? null : Math.Round(long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0, 1);
}

// Batches run and images scored so far, from the server's nativevq_batch_size histogram.
static async Task<(double Batches, double Images)> BatchCounts(HttpClient http)
{
    var text = await http.GetStringAsync("/metrics");
    double Value(string name) => text.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal))
        .Select(l => double.Parse(l[(name.Length + 1)..], CultureInfo.InvariantCulture)).FirstOrDefault();
    return (Value("nativevq_batch_size_count"), Value("nativevq_batch_size_sum"));
}

static async Task<JsonNode> WaitReady(HttpClient http, TimeSpan limit)
{
    var clock = Stopwatch.StartNew();
    while (true)
    {
        try
        {
            var r = await http.GetAsync("/v1/model");
            if (r.IsSuccessStatusCode) return JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        }
        catch (HttpRequestException) { }
        if (clock.Elapsed > limit) throw new TimeoutException($"the server at {http.BaseAddress} was not ready within {limit.TotalSeconds} s");
        await Task.Delay(250);
    }
}

internal sealed record Sample(string Kind, int Status, double Ms);

internal static class Requests
{
    /// <summary>PNG files of synthetic textures (half with a defect) at the model's input size.</summary>
    public static byte[][] Good(int size, int channels, int count)
    {
        var tex = new SyntheticTextures(count, size, 7, anomalyFraction: 0.5f);
        var plane = new float[size * size];
        return Enumerable.Range(0, count).Select(i =>
        {
            tex.Load(i, plane);
            var px = new byte[size * size * channels];
            for (int k = 0; k < plane.Length; k++)
                for (int c = 0; c < channels; c++) px[k * channels + c] = (byte)Math.Clamp(MathF.Round((plane[k] + 1f) * 127.5f), 0f, 255f);
            return Png(px, size, size, channels);
        }).ToArray();
    }

    /// <summary>One request of each malformed kind the server must refuse with a 4xx.</summary>
    public static (string Kind, byte[] Body, string Type)[] Bad(byte[] goodPng, long maxBody, long maxPixels)
    {
        int side = (int)Math.Ceiling(Math.Sqrt(maxPixels)) + 1;   // just over the pixel limit; black compresses to little
        return
        [
            ("garbage", Encoding.UTF8.GetBytes("this is not an image at all"), "image/png"),
            ("truncated", goodPng[..(goodPng.Length / 2)], "image/png"),
            ("wrong_content_type", goodPng, "text/plain"),
            ("body_too_large", new byte[maxBody + 1], "image/png"),
            ("too_many_pixels", Png(new byte[(long)side * side], side, side, 1), "image/png"),
        ];
    }

    private static byte[] Png(byte[] pixels, int w, int h, int channels)
    {
        using var ms = new MemoryStream();
        new ImageWriter().WritePng(pixels, w, h, channels == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue, ms);
        return ms.ToArray();
    }
}

internal sealed record Args(string Url, int Clients, double Seconds, double BadFraction, bool Map, string? Token, int? ServerPid, double WaitReadySeconds, double WarmupSeconds)
{
    public static Args? Parse(string[] a)
    {
        string? url = null, token = null;
        int clients = 8; double seconds = 15, bad = 0, wait = 300, warmup = 3; bool map = false; int? pid = null;
        try
        {
            for (int i = 0; i < a.Length; i++)
            {
                switch (a[i])
                {
                    case "--url": url = a[++i]; break;
                    case "--clients": clients = int.Parse(a[++i], CultureInfo.InvariantCulture); break;
                    case "--seconds": seconds = double.Parse(a[++i], CultureInfo.InvariantCulture); break;
                    case "--bad-fraction": bad = double.Parse(a[++i], CultureInfo.InvariantCulture); break;
                    case "--map": map = true; break;
                    case "--token-file": token = File.ReadAllText(a[++i]).Trim(); break;
                    case "--server-pid": pid = int.Parse(a[++i], CultureInfo.InvariantCulture); break;
                    case "--warmup": warmup = double.Parse(a[++i], CultureInfo.InvariantCulture); break;
                    case "--wait-ready": wait = double.Parse(a[++i], CultureInfo.InvariantCulture); break;
                    default: throw new FormatException($"unknown argument '{a[i]}'");
                }
            }
        }
        catch (Exception e) when (e is FormatException or IndexOutOfRangeException or IOException)
        {
            Console.Error.WriteLine($"{e.Message}\nusage: NativeVq.ServeLoad --url http://127.0.0.1:PORT [--clients 1..64] [--seconds 1..300] [--bad-fraction 0..1] [--warmup 0..60 (3)] [--map] [--token-file F] [--server-pid PID]");
            return null;
        }
        if (url is null || clients is < 1 or > 64 || seconds is <= 0 or > 300 || bad is < 0 or > 1 || warmup is < 0 or > 60)
        {
            Console.Error.WriteLine("--url is required; --clients must be 1..64, --seconds 0..300, --bad-fraction 0..1, --warmup 0..60");
            return null;
        }
        return new Args(url, clients, seconds, bad, map, token, pid, wait, warmup);
    }
}
