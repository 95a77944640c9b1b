using NativeVq.Data.Volumes;

namespace NativeVq.Data;

/// <summary>
/// A folder of NIfTI-1 volumes (<c>.nii</c>, <c>.nii.gz</c>, recursive, sorted ordinally by relative path) seen as
/// 2D slices: slice k across <see cref="VolumeOptions.Axis"/> of every volume, intensity-normalised per volume
/// (<see cref="VolumeSlicing.Normalize"/>) and stretched to Size x Size, one grayscale channel. Dataset order is
/// volume by volume, slice by slice, so seeds and shuffling behave as for image folders. With
/// <see cref="VolumeOptions.SkipEmpty"/> every volume is read once when the dataset opens, to know which slices
/// hold anything. Decoded volumes are kept as their Size x Size slices (the memory the training set needs at the
/// model's resolution), up to <see cref="CacheBytes"/>; past it the oldest volume is dropped and re-read when needed.
/// </summary>
public sealed class VolumeDataset : IImageDataset
{
    private readonly string[] _relative;
    private readonly (int Volume, int Slice)[] _items;
    private readonly object[] _volumeLocks;
    private readonly Dictionary<int, float[][]> _cache = new();
    private readonly Queue<int> _cacheOrder = new();
    private long _cachedBytes;

    public VolumeDataset(string root, int size, VolumeOptions options)
    {
        options.Validate();
        if (size is < 8 or > 4096) throw new UserError($"image size must be between 8 and 4096, not {size}");
        if (File.Exists(root)) throw new UserError($"{root}: is a file; a volume dataset needs a folder of .nii / .nii.gz volumes");
        if (!Directory.Exists(root)) throw new UserError($"{root}: folder not found");
        Root = Path.GetFullPath(root);
        Size = size;
        Options = options;
        _relative = List(Root);
        if (_relative.Length == 0) throw new UserError($"{root}: no NIfTI volumes found (looked for .nii and .nii.gz in all subfolders)");
        _volumeLocks = _relative.Select(_ => new object()).ToArray();
        var items = new List<(int, int)>();
        for (int v = 0; v < _relative.Length; v++)
        {
            if (options.SkipEmpty)
            {
                var (vol, norm) = Open(v);
                for (int k = 0; k < vol.Extent(options.Axis); k++)
                    if (!VolumeSlicing.IsEmpty(vol, norm, options.Axis, k)) items.Add((v, k));
            }
            else
            {
                var h = NiftiFile.ReadHeader(PathOf(v), options.MaxVoxels);
                for (int k = 0; k < Extent(h, options.Axis); k++) items.Add((v, k));
            }
        }
        if (items.Count == 0) throw new UserError($"{root}: every slice of every volume is empty (all background)");
        _items = items.ToArray();
    }

    public string Root { get; }
    public VolumeOptions Options { get; }
    /// <summary>Most bytes of decoded slices kept in memory (default 2 GiB).</summary>
    public long CacheBytes { get; init; } = 2L << 30;
    public int Count => _items.Length;
    public int Channels => 1;
    public int Size { get; }
    public int VolumeCount => _relative.Length;
    public string PathOf(int volume) => Path.Combine(Root, _relative[volume]);
    public string VolumeName(int volume) => _relative[volume].Replace('\\', '/');
    /// <summary>Which volume and which slice item <paramref name="index"/> is.</summary>
    public (int Volume, int Slice) ItemOf(int index) => _items[index];

    public string NameOf(int index)
    {
        var (v, k) = _items[index];
        return $"{VolumeName(v)}:{"xyz"[Options.Axis]}{k:D3}";
    }

    public int LabelOf(int index) => -1;

    public void Load(int index, Span<float> chw)
    {
        if (chw.Length != Size * Size) throw new ArgumentException($"buffer holds {chw.Length} values, a slice needs {Size}x{Size}");
        var (v, k) = _items[index];
        Slices(v)[k].CopyTo(chw);
    }

    /// <summary>The .nii / .nii.gz files under <paramref name="dir"/>, recursive, ordinal order of relative paths.</summary>
    public static string[] List(string dir)
    {
        var opt = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System };
        var files = Directory.EnumerateFiles(dir, "*", opt).Where(NiftiFile.IsNiftiName)
            .Select(f => Path.GetRelativePath(dir, f)).ToArray();
        Array.Sort(files, (a, b) => string.CompareOrdinal(a.Replace('\\', '/'), b.Replace('\\', '/')));
        return files;
    }

    /// <summary>True when <paramref name="dir"/> holds a NIfTI volume (top level or below).</summary>
    public static bool HoldsVolumes(string dir) => Directory.Exists(dir) && List(dir).Length > 0;

    private static int Extent(NiftiHeader h, int axis) => axis switch { 0 => h.Nx, 1 => h.Ny, _ => h.Nz };

    private (Volume, float[]) Open(int v)
    {
        var vol = NiftiFile.Read(PathOf(v), Options.MaxVoxels);
        return (vol, VolumeSlicing.Normalize(vol, Options));
    }

    private float[][] Slices(int v)
    {
        lock (_cache) { if (_cache.TryGetValue(v, out var hit)) return hit; }
        lock (_volumeLocks[v])
        {
            lock (_cache) { if (_cache.TryGetValue(v, out var hit)) return hit; }
            var (vol, norm) = Open(v);
            var slices = Enumerable.Range(0, vol.Extent(Options.Axis)).Select(k => VolumeSlicing.SliceImage(vol, norm, Options.Axis, k, Size)).ToArray();
            long bytes = 4L * Size * Size * slices.Length;
            lock (_cache)
            {
                while (_cacheOrder.Count > 0 && _cachedBytes + bytes > CacheBytes)
                {
                    int old = _cacheOrder.Dequeue();
                    _cachedBytes -= 4L * Size * Size * _cache[old].Length;
                    _cache.Remove(old);
                }
                _cache[v] = slices;
                _cacheOrder.Enqueue(v);
                _cachedBytes += bytes;
            }
            return slices;
        }
    }
}
