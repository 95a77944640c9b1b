using System.Diagnostics;
using System.Globalization;

namespace NativeVq.Data;

/// <summary>
/// An exclusive claim on an output or run folder, so two runs cannot interleave their files: a lock file created
/// atomically (CreateNew) holding the owner's PID and host. A lock whose process is gone (killed, crashed) is stale
/// and taken over. Disposing releases it, and removes the folder again when this run created it and left it empty
/// (a failed run leaves nothing behind).
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".nativevq.lock";
    private readonly string _lockPath;
    private readonly string _folder;
    private readonly bool _created;
    private FileStream? _stream;

    private RunLock(string folder, string lockPath, bool created, FileStream stream)
    {
        _folder = folder; _lockPath = lockPath; _created = created; _stream = stream;
    }

    /// <summary>
    /// Creates <paramref name="dir"/> if needed and locks it; <paramref name="label"/> names it in messages ("--out x").
    /// <paramref name="lockName"/> lets runs that share a folder by design (the parts of a sharded score) lock only their own part.
    /// </summary>
    public static RunLock Acquire(string dir, string label, string lockName = FileName)
    {
        bool existed = Directory.Exists(dir);
        var full = OutputPath.CreateFolder(dir, label);
        var path = Path.Combine(full, lockName);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                var s = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
                using (var w = new StreamWriter(s, leaveOpen: true))
                    w.Write(string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId}\n{Environment.MachineName}\n{DateTime.UtcNow:O}\n"));
                s.Flush(flushToDisk: true);
                return new RunLock(full, path, !existed, s);
            }
            catch (IOException) when (File.Exists(path) && attempt < 3)
            {
                var (pid, host, since) = ReadOwner(path);
                bool sameHost = host is null || host == Environment.MachineName;
                if (pid is int p && sameHost && !Alive(p))
                {
                    try { File.Delete(path); } catch (IOException) { }   // stale: its process is gone
                    continue;
                }
                throw new UserError($"{label}: the folder is in use by another nativevq run (pid {pid?.ToString(CultureInfo.InvariantCulture) ?? "?"}" +
                    $"{(sameHost ? "" : $" on {host}")}{(since is null ? "" : $", since {since}")}); wait for it to finish, or delete {path} if that run is gone");
            }
        }
    }

    private static (int? Pid, string? Host, string? Since) ReadOwner(string path)
    {
        try
        {
            var lines = File.ReadAllLines(path);
            int? pid = lines.Length > 0 && int.TryParse(lines[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) ? p : null;
            return (pid, lines.Length > 1 ? lines[1] : null, lines.Length > 2 ? lines[2] : null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return (null, null, null); }
    }

    private static bool Alive(int pid)
    {
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    public void Dispose()
    {
        if (_stream is null) return;
        _stream.Dispose();
        _stream = null;
        try { File.Delete(_lockPath); } catch (IOException) { }
        try { if (_created && !Directory.EnumerateFileSystemEntries(_folder).Any()) Directory.Delete(_folder); }
        catch (IOException) { }
    }
}
