namespace NativeVq.Data;

/// <summary>
/// Output folders and temporary names. A folder that cannot be made is reported with its cause (a parent that is a
/// regular file, a read-only or virtual file system) instead of .NET's "Could not find a part of the path".
/// </summary>
public static class OutputPath
{
    /// <summary>
    /// Creates <paramref name="dir"/> (and its parents) and checks that a file can be written in it.
    /// <paramref name="label"/> starts every message, e.g. "--out /x/y".
    /// </summary>
    public static string CreateFolder(string dir, string label, bool probeWrite = true)
    {
        var full = Path.GetFullPath(dir);
        if (File.Exists(full)) throw new UserError($"{label}: {full} is a file, not a folder");
        for (var p = Path.GetDirectoryName(full); !string.IsNullOrEmpty(p); p = Path.GetDirectoryName(p))
        {
            if (File.Exists(p)) throw new UserError($"{label}: {p} is a file, not a folder");
            if (Directory.Exists(p)) break;
        }
        try { Directory.CreateDirectory(full); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UserError($"{label}: cannot create the folder ({ImageIO.OneLine(e.Message)})", e);
        }
        if (probeWrite)
        {
            var probe = Path.Combine(full, $".nativevq-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
            try
            {
                using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write)) { }
                File.Delete(probe);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UserError($"{label}: the folder is not writable ({ImageIO.OneLine(e.Message)})", e);
            }
        }
        return full;
    }

    /// <summary>A temporary name beside <paramref name="target"/> that no other process or thread will pick.</summary>
    public static string TempFor(string target) => $"{target}.{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}.tmp";
}
