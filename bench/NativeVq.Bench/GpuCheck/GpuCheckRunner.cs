using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Kernels;

namespace NativeVq.Bench.GpuCheck;

/// <summary>
/// `NativeVq.Bench gpu-check`: the one-shot proof on a GPU machine (driven by bench/gpu_check.sh from a
/// self-contained bundle: that machine has no SDK). Parity of the device's kernels against cpu, then the timings
/// the issue asks for, as one JSON document. Every stage is guarded — a failing stage records its error and the
/// run goes on — and a global time budget skips what would not fit, because the run gets one try. The JSON is
/// rewritten after every stage, so a run killed from outside still leaves what it measured.
/// Options: --device NAME (default cuda; ilgpu-cpu for a local dry run), --tiny (small shapes), --budget SECONDS (of
/// this process), --stages NAME[,NAME] (default all), --append (add to the JSON already at --out), --naive-gemm (the
/// backend's GEMM without the tiled kernel), --cuda-paths (on ilgpu-cpu: run the kernels cuda runs — tiled GEMM/conv/argmin,
/// warp softmax, fused attention — so the dry run exercises them), --t0 UNIXTIME (start of the whole check, for total_s), --out FILE.
/// </summary>
public static class GpuCheckRunner
{
    public static readonly string[] StageNames = ["parity", "gemm", "conv", "attention", "argmin", "vqvae_train", "pixelsnail_train", "restoration"];

    public static int Run(string[] args)
    {
        string device = "cuda", outPath = "gpu_check.json";
        bool tiny = false, append = false, naiveGemm = false, cudaPaths = false;
        double budget = 400;
        long t0 = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var only = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--device" when i + 1 < args.Length: device = args[++i]; break;
                case "--tiny": tiny = true; break;
                case "--append": append = true; break;
                case "--naive-gemm": naiveGemm = true; break;
                case "--cuda-paths": cudaPaths = true; break;
                case "--budget" when i + 1 < args.Length && double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var s): budget = s; i++; break;
                case "--t0" when i + 1 < args.Length && long.TryParse(args[i + 1], out var t): t0 = t; i++; break;
                case "--stages" when i + 1 < args.Length: only.AddRange(args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries)); break;
                case "--out" when i + 1 < args.Length: outPath = args[++i]; break;
                default:
                    Console.Error.WriteLine($"gpu-check: unknown or incomplete argument '{args[i]}': expected --device NAME, --tiny, --budget SECONDS, --stages {string.Join(',', StageNames)}, --append, --naive-gemm, --cuda-paths, --t0 UNIXTIME, --out FILE");
                    return 2;
            }
        }
        if (only.FirstOrDefault(n => !StageNames.Contains(n)) is { } bad)
        {
            Console.Error.WriteLine($"gpu-check: unknown stage '{bad}' in --stages: expected some of {string.Join(',', StageNames)}");
            return 2;
        }
        if (only.Count == 0) only.AddRange(StageNames);

        // --append: bench/gpu_check.sh runs each stage in its own process (a CUDA fault poisons only that process's
        // context) and they all add to one document.
        JsonObject? previous = null;
        if (append && File.Exists(outPath))
        {
            try { previous = JsonNode.Parse(File.ReadAllText(outPath)) as JsonObject; }
            catch (JsonException) { previous = null; }
        }
        var root = previous ?? new JsonObject
        {
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["device_option"] = device,
            ["shapes"] = tiny ? "tiny (dry run)" : "full",
        };
        var stages = new Stages(root, outPath, budget, t0);
        Backend? be = null;
        stages.Run("device", () =>
        {
            be = Devices.Create(device);
            var node = new JsonObject { ["backend"] = be.Name, ["description"] = be.Description };
            if (be is IlgpuBackend ib)
            {
                node["name"] = ib.Accelerator.Name;
                node["memory_mib"] = ib.Accelerator.MemorySize >> 20;
                node["gemm_tile"] = ib.GemmTile.ToString();
                if (cudaPaths) ib.UseTiledGemm = ib.UseFusedAttention = true;
                if (naiveGemm) ib.UseTiledGemm = false;
                node["backend_gemm"] = ib.UseTiledGemm ? "tiled" : "naive";
                node["fused_attention"] = ib.UseFusedAttention;
            }
            root["device_name"] = node["name"]?.GetValue<string>() ?? be.Description;
            return node;
        });
        if (be is null)
        {
            // Record why each asked stage has no figures (out of budget, or the device could not be created).
            foreach (var name in only) stages.Run(name, () => throw new DeviceUnavailableException("no device: see the device stage"));
        }
        else
        {
            var sizes = tiny ? CheckSizes.Tiny : CheckSizes.Full;
            var timer = new DeviceTimer(be, stages);
            var bodies = new Dictionary<string, Func<JsonNode>>
            {
                ["parity"] = () => new GpuParity(be, sizes).RunAll(stages, root),
                ["gemm"] = () => GpuTimings.Gemm(be, sizes, timer),
                ["conv"] = () => GpuTimings.Conv(be, sizes, timer),
                ["attention"] = () => GpuTimings.Attention(be, sizes, timer),
                ["argmin"] = () => GpuTimings.Argmin(be, sizes, timer),
                ["vqvae_train"] = () => GpuTimings.VqVaeTrain(be, sizes, timer),
                ["pixelsnail_train"] = () => GpuTimings.PixelSnailTrain(be, sizes, timer),
                ["restoration"] = () => GpuTimings.Restoration(be, sizes, timer),
            };
            foreach (var name in only) stages.Run(name, bodies[name]);
        }
        stages.Flush();
        Console.WriteLine(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }
}

/// <summary>Runs named stages under a global budget, catching each one's failure into the JSON.</summary>
public sealed class Stages(JsonObject root, string outPath, double budgetSeconds, long t0)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly JsonObject _seconds = root["stage_s"] as JsonObject ?? new JsonObject();

    public double Elapsed => _clock.Elapsed.TotalSeconds;
    public double Left => budgetSeconds - Elapsed;

    public void Run(string name, Func<JsonNode> body)
    {
        if (Left <= 0)
        {
            // A stage an earlier process of the same check already recorded (the device) keeps its result.
            if (root[name] is null || name != "device") root[name] = new JsonObject { ["skipped"] = "time budget spent" };
            Flush();
            return;
        }
        Console.Error.WriteLine($"[gpu-check] {Elapsed,6:F1}s {name} ...");
        // Left in the file if this process is killed (time limit) or crashes inside the stage.
        root[name] = new JsonObject { ["status"] = "started, did not finish: killed by the time limit or crashed" };
        Flush();
        double start = Elapsed;
        try { root[name] = body(); }
        catch (Exception ex) { root[name] = Error(ex); }
        _seconds[name] = Math.Round(Elapsed - start, 1);
        root["stage_s"] = _seconds.DeepClone();
        root["total_s"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - t0;
        Console.Error.WriteLine($"[gpu-check] {Elapsed,6:F1}s {name}: {root[name]!.ToJsonString()}");
        Flush();
    }

    /// <summary>A sub-step inside a stage: its own error does not end the stage; skipped when the budget is spent.</summary>
    public JsonNode Guard(Func<JsonNode> body)
    {
        if (Left <= 0) return new JsonObject { ["skipped"] = "global time budget spent" };
        try { return body(); }
        catch (Exception ex) { return Error(ex); }
    }

    public static JsonObject Error(Exception ex)
    {
        string msg = ex.Message.Split('\n')[0];
        if (ex.InnerException is { } inner) msg += $" (inner {inner.GetType().Name}: {inner.Message.Split('\n')[0]})";
        return new JsonObject { ["error"] = $"{ex.GetType().Name}: {msg}", ["at"] = ex.StackTrace?.Split('\n').FirstOrDefault()?.Trim() };
    }

    public void Flush()
    {
        var json = root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        var dir = Path.GetDirectoryName(Path.GetFullPath(outPath))!;
        Directory.CreateDirectory(dir);
        File.WriteAllText(outPath + ".tmp", json);
        File.Move(outPath + ".tmp", outPath, overwrite: true);
    }
}

/// <summary>
/// Median wall time with the device synchronised: one warm-up call (which also compiles the kernels), a second
/// when the first was quick, then repeats until at least <c>minReps</c> and about a second, never past
/// <c>maxSeconds</c> or the global budget.
/// </summary>
public sealed class DeviceTimer(Backend be, Stages stages)
{
    public double MedianMs(Action action, int minReps = 5, double maxSeconds = 3)
    {
        var sw = Stopwatch.StartNew();
        action();
        be.Synchronize();
        if (sw.Elapsed.TotalSeconds < 0.5) { action(); be.Synchronize(); }
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 1 || (times.Count < minReps || total.Elapsed.TotalSeconds < 1) && total.Elapsed.TotalSeconds < maxSeconds && stages.Left > 0 && times.Count < 200)
        {
            var t = Stopwatch.StartNew();
            action();
            be.Synchronize();
            times.Add(t.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
}
