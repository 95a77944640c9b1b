using System.CommandLine;
using System.Net;
using NativeVq.Serve;

namespace NativeVq.Cli.Commands;

/// <summary>`nativevq serve`: the scoring HTTP server (docs/serve.md).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var d = new ServeOptions();
        var model = Cli.Required<string>("--model", "Run folder (loaded once, at start): vqvae.nvq, prior.nvq and calibration.json, or a VAE / GAN run with score_calibration.json.");
        var host = new Option<string>("--host") { Description = "Address to bind: 127.0.0.1 (loopback, default), ::1, 0.0.0.0 (every interface: use --token-file) or any local IP.", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0 = any free port, printed at start).", DefaultValueFactory = _ => d.Port };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most images scored together in one batched pass.", DefaultValueFactory = _ => d.MaxBatch };
        var delay = new Option<double>("--max-batch-delay-ms") { Description = "How long the first request of a batch waits for others to join it.", DefaultValueFactory = _ => d.MaxBatchDelayMs };
        var maxBody = new Option<double>("--max-body-mb") { Description = "Largest request body in MiB (413 above).", DefaultValueFactory = _ => d.MaxBodyBytes / 1048576.0 };
        var maxQueue = new Option<int>("--max-queue") { Description = "Decoded images waiting to be scored; when full, requests get 503 with Retry-After.", DefaultValueFactory = _ => d.MaxQueue };
        var maxPixels = new Option<long>("--max-pixels") { Description = "Largest image (width × height, from its header) accepted; 413 above, before decoding.", DefaultValueFactory = _ => d.MaxPixels };
        var maxConnections = new Option<int>("--max-connections") { Description = "Most open connections (bounds the memory of bodies being read).", DefaultValueFactory = _ => d.MaxConnections };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding a bearer token: every endpoint but /healthz and /readyz then requires 'Authorization: Bearer <token>'." };
        var scoring = new ScoringCliOptions();
        var device = Cli.Device();
        var seed = Cli.Seed();
        var cmd = new Command("serve", "Serve the model over HTTP: POST an image to /v1/score (JSON) or /v1/map (heat map PNG); /healthz, /readyz, /metrics. Ctrl+C stops it after finishing the requests in flight.");
        foreach (var o in new Option[] { model, host, port, maxBatch, delay, maxBody, maxQueue, maxPixels, maxConnections, tokenFile, device, seed }) cmd.Options.Add(o);
        scoring.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(r, false, () =>
        {
            var options = new ServeOptions
            {
                Host = ParseHost(r.GetValue(host)!),
                Port = r.GetValue(port),
                MaxBatch = r.GetValue(maxBatch),
                MaxBatchDelayMs = r.GetValue(delay),
                MaxBodyBytes = (long)(r.GetValue(maxBody) * 1048576),
                MaxQueue = r.GetValue(maxQueue),
                MaxPixels = r.GetValue(maxPixels),
                MaxConnections = r.GetValue(maxConnections),
                Token = r.GetValue(tokenFile) is { } f ? BearerAuth.ReadTokenFile(f) : null,
            };
            options.Validate();
            var modelOptions = scoring.ModelOptions(r, r.GetValue(seed), maps: true);
            if (!IPAddress.IsLoopback(options.Host) && options.Token is null)
                Console.Error.WriteLine($"warning: listening on {options.Host} without --token-file: anyone who can reach this port can use the server");
            return Serve(options, r.GetValue(model)!, r.GetValue(device)!, modelOptions).GetAwaiter().GetResult();
        }));
        return cmd;
    }

    private static async Task<int> Serve(ServeOptions options, string runDir, string device, Anomaly.AnomalyModelOptions modelOptions)
    {
        // Listen first, then load: /healthz answers at once and /readyz turns 200 when the model is in memory.
        await using var server = ScoringServer.Create(options, line => Console.Error.WriteLine(line));
        await server.StartAsync();
        AnomalyModelScorer? scorer = null;
        try
        {
            var backend = Cli.OpenDevice(device);
            scorer = AnomalyModelScorer.Load(runDir, backend, modelOptions);
            if (scorer.Kind == "vqvae")
            {
                ScoringCliOptions.Describe(scorer.Lambda, scorer.Tau, modelOptions.Scoring, scorer.ImageSize);
                Console.Error.WriteLine($"image score: {scorer.ScoreName}");
                if (scorer.ScoreNote is { } note) Console.Error.WriteLine($"note: {note}");
            }
            // A VAE or GAN run has no λ / τ (they would print as NaN): its score and threshold say what it does.
            else Console.Error.WriteLine($"scoring: {scorer.Kind} run, image score {scorer.ScoreName}, threshold {scorer.Threshold:F4} (score_calibration.json)");
            server.SetModel(scorer);
            Console.Error.WriteLine($"ready: {runDir} ({scorer.Channels}x{scorer.ImageSize}x{scorer.ImageSize}, threshold {scorer.Threshold:F3}) on {scorer.Device}; Ctrl+C stops");
            await server.WaitForShutdownAsync();
            Console.Error.WriteLine("stopping: finishing the requests in flight");
        }
        finally
        {
            // The model outlives every request: stop (drain) first, then release it.
            await server.StopAsync();
            scorer?.Dispose();
        }
        return 0;
    }

    internal static IPAddress ParseHost(string host) => host switch
    {
        "localhost" => IPAddress.Loopback,
        _ when IPAddress.TryParse(host, out var a) => a,
        _ => throw new UserError($"--host must be an IP address (127.0.0.1, ::1, 0.0.0.0) or localhost, got '{host}'"),
    };
}
