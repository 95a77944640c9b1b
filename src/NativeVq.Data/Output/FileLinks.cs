namespace NativeVq.Data;

/// <summary>Symbolic-link resolution for the folder walk (.NET has no realpath).</summary>
internal static class FileLinks
{
    private const int MaxHops = 40;  // Linux's own limit on links followed while resolving one path

    /// <summary>The path with every link in it resolved, component by component; a link cycle is a UserError.</summary>
    public static string RealPath(string path) => Resolve(Path.GetFullPath(path), 0);

    private static string Resolve(string full, int hops)
    {
        var root = Path.GetPathRoot(full)!;
        var cur = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(cur, part);
            string? target = null;
            try { target = new FileInfo(next).LinkTarget; } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (target is null) { cur = next; continue; }
            if (++hops > MaxHops) throw new UserError($"{full}: too many levels of symbolic links (a link loop)");
            cur = Resolve(Path.GetFullPath(Path.IsPathRooted(target) ? target : Path.Combine(cur, target)), hops);
        }
        return cur;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> or lies below it (both real paths).</summary>
    public static bool IsInside(string path, string folder)
        => path == folder || path.StartsWith(folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
