using System.Diagnostics;
using System.Text.Json.Nodes;

namespace NativeVq.Bench;

/// <summary>
/// LibTorch's MKL SGEMM figure from the TorchSharp peer (../shared/peer/torchsharp, `gemm N` mode): a yardstick
/// for <see cref="GemmBench"/>, never a product dependency. The peer is built once in a copy under the temp
/// folder (shared/ is read-only); when ../shared is absent (a user's clone) <see cref="Find"/> returns null and
/// the bench records null, not an error.
/// </summary>
internal sealed class MklPeer
{
    private readonly string _dll;

    private MklPeer(string dll) => _dll = dll;

    /// <summary>The built peer, or null (with the reason in <paramref name="why"/>) when it cannot be had here.</summary>
    public static MklPeer? Find(out string why)
    {
        var source = PeerSource();
        if (source is null) { why = "../shared/peer/torchsharp not found next to the repository"; return null; }
        string copy = Path.Combine(Path.GetTempPath(), "nativevq-torchsharp-peer");
        string dll = Path.Combine(copy, "bin", "Release", "net10.0", "TorchSharpPeer.dll");
        if (!File.Exists(dll))
        {
            CopyDirectory(source, copy);
            var (code, output) = RunProcess("dotnet", ["build", "-c", "Release", copy], 900);
            if (code != 0 || !File.Exists(dll)) { why = $"building the TorchSharp peer failed (exit {code}): {Last(output)}"; return null; }
        }
        why = "";
        return new MklPeer(dll);
    }

    /// <summary>One `gemm n` run of the peer (a fresh process, 2 threads): its best GFLOP/s, or null on failure.</summary>
    public double? Gflops(int n)
    {
        var (code, output) = RunProcess("dotnet", [_dll, "gemm", n.ToString()], 300);
        if (code != 0) return null;
        var line = output.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        return line is null ? null : JsonNode.Parse(line)?["gflops_best"]?.GetValue<double>();
    }

    /// <summary>
    /// ../shared/peer/torchsharp beside the repository root (found by walking up from here to NativeVq.sln), or the
    /// folder NATIVEVQ_TORCHSHARP_PEER names (for a worktree that does not sit next to shared/).
    /// </summary>
    private static string? PeerSource()
    {
        if (Environment.GetEnvironmentVariable("NATIVEVQ_TORCHSHARP_PEER") is { Length: > 0 } env)
            return File.Exists(Path.Combine(env, "TorchSharpPeer.csproj")) ? Path.GetFullPath(env) : null;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "NativeVq.sln")))
                {
                    string peer = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "peer", "torchsharp"));
                    return File.Exists(Path.Combine(peer, "TorchSharpPeer.csproj")) ? peer : null;
                }
        return null;
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(from, file);
            if (rel.StartsWith("bin", StringComparison.Ordinal) || rel.StartsWith("obj", StringComparison.Ordinal)) continue;
            string dst = Path.Combine(to, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(file, dst, overwrite: true);
        }
    }

    private static (int Code, string Output) RunProcess(string exe, string[] args, int timeoutSeconds)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(timeoutSeconds * 1000)) { p.Kill(entireProcessTree: true); return (-1, "timed out"); }
        return (p.ExitCode, output + err.Result);
    }

    private static string Last(string output) => output.Trim().Split('\n').LastOrDefault()?.Trim() ?? "";
}
