using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Bench;

if (args is ["gpu-check", ..]) return NativeVq.Bench.GpuCheck.GpuCheckRunner.Run(args[1..]);

// nativevq bench: runs every IBench (or those named with --only), prints one JSON document and writes it to
// --out (default bench/results/bench.json). Usage: dotnet run -c Release --project bench/NativeVq.Bench -- [--only gemm,conv] [--out FILE] [--quick]
// `gpu-check [--device NAME] [--tiny] [--budget S] [--out FILE]`: the one-shot GPU proof (bench/gpu_check.sh).
var only = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
string outPath = Path.Combine("bench", "results", "bench.json");
bool quick = false;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--only" when i + 1 < args.Length: foreach (var n in args[++i].Split(',')) only.Add(n.Trim()); break;
        case "--out" when i + 1 < args.Length: outPath = args[++i]; break;
        case "--quick": quick = true; break;
        case "--help" or "-h":
            Console.WriteLine("usage: NativeVq.Bench [--only NAME[,NAME]] [--out FILE] [--quick]\nbenchmarks: " +
                string.Join(", ", BenchRegistry.All().Select(b => b.Name)));
            return 0;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}' (try --help)");
            return 2;
    }
}

var ctx = new BenchContext(quick);
var results = new JsonObject();
foreach (var bench in BenchRegistry.All().Where(b => only.Count == 0 || only.Contains(b.Name)))
{
    Console.Error.WriteLine($"[bench] {bench.Name} ...");
    var node = new JsonObject();
    bench.Run(ctx, node);
    results[bench.Name] = node;
    Console.Error.WriteLine($"[bench] {bench.Name}: {node.ToJsonString()}");
}
var doc = new JsonObject
{
    ["date"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
    ["machine"] = new JsonObject
    {
        ["cores"] = Environment.ProcessorCount,
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
        ["cpu"] = NativeVq.Cpu.CpuBackend.Instance.Description,
    },
    ["results"] = results,
    ["peak_working_set_mb"] = Math.Round(Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0, 1),
};
var json = doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
Console.WriteLine(json);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
File.WriteAllText(outPath + ".tmp", json);
File.Move(outPath + ".tmp", outPath, overwrite: true);
Console.Error.WriteLine($"[bench] written to {outPath}");
return 0;
