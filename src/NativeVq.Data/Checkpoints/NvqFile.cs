using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NativeVq.Data;

/// <summary>One tensor read from a checkpoint (host memory).</summary>
public sealed class NvqTensor(string name, DType dtype, int[] shape, float[]? f32, int[]? i32)
{
    public string Name { get; } = name;
    public DType DType { get; } = dtype;
    public int[] Shape { get; } = shape;
    public float[]? F32 { get; } = f32;
    public int[]? I32 { get; } = i32;
    public int Numel => ShapeUtil.Numel(Shape);

    public Tensor ToTensor(Backend backend) => DType == DType.F32 ? Tensor.FromArray(backend, F32!, Shape) : Tensor.FromArray(backend, I32!, Shape);
}

/// <summary>A checkpoint read by <see cref="NvqFile.Read"/>: what kind of model, its config, training state and tensors.</summary>
public sealed class NvqCheckpoint
{
    internal NvqCheckpoint(string path, uint version, string kind, JsonObject config, JsonObject training, List<NvqTensor> tensors)
    {
        Path = path; Version = version; Kind = kind; Config = config; Training = training; Tensors = tensors;
        ByName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    public uint Version { get; }
    /// <summary>What the file holds, e.g. "vqvae" or "pixelsnail" (the reader checks it with <see cref="RequireKind"/>).</summary>
    public string Kind { get; }
    public JsonObject Config { get; }
    public JsonObject Training { get; }
    /// <summary>In file order.</summary>
    public IReadOnlyList<NvqTensor> Tensors { get; }
    public IReadOnlyDictionary<string, NvqTensor> ByName { get; }

    public void RequireKind(string kind)
    {
        if (Kind != kind) throw new UserError($"{Path}: holds a '{Kind}' checkpoint, expected '{kind}'");
    }

    /// <summary>
    /// Copies the file's tensors into <paramref name="targets"/> (matched by name). Everything is checked before
    /// anything is written: a shape or dtype difference (a model built with another architecture or config) is always
    /// an error; with <paramref name="strict"/>, so is a target missing from the file or a file tensor without target.
    /// Non-strict loading leaves targets the file lacks untouched and ignores extra file tensors.
    /// </summary>
    public void LoadInto(IEnumerable<(string Name, Tensor Tensor)> targets, bool strict = true)
    {
        var list = targets.ToList();
        var dupe = list.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1);
        if (dupe is not null) throw new ArgumentException($"target name '{dupe.Key}' appears twice");
        var problems = new List<string>();
        var missing = list.Where(t => !ByName.ContainsKey(t.Name)).Select(t => t.Name).ToList();
        var names = list.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var extra = Tensors.Where(t => !names.Contains(t.Name)).Select(t => t.Name).ToList();
        if (strict && missing.Count > 0) problems.Add($"missing tensors {Few(missing)}");
        if (strict && extra.Count > 0) problems.Add($"unexpected tensors {Few(extra)}");
        var mismatched = new List<string>();
        foreach (var (name, t) in list)
        {
            if (!ByName.TryGetValue(name, out var f)) continue;
            if (!ShapeUtil.Same(f.Shape, t.Shape) || f.DType != t.DType)
                mismatched.Add($"{name} is {f.DType.ToString().ToLowerInvariant()}{ShapeUtil.Format(f.Shape)} in the file, {t.DType.ToString().ToLowerInvariant()}{ShapeUtil.Format(t.Shape)} in the model");
        }
        if (mismatched.Count > 0) problems.Add($"{Few(mismatched, 3)} (wrong architecture or config?)");
        if (problems.Count > 0) throw new UserError($"{Path}: does not fit the model: {string.Join("; ", problems)}");
        foreach (var (name, t) in list)
        {
            if (!ByName.TryGetValue(name, out var f)) continue;
            if (f.DType == DType.F32) t.Backend.Upload(f.F32, t.Memory);
            else t.Backend.Upload(f.I32, t.Memory);
        }
    }

    private static string Few(List<string> items, int max = 5)
        => string.Join(", ", items.Take(max)) + (items.Count > max ? $" and {items.Count - max} more" : "");
}

/// <summary>
/// The NativeVq checkpoint format (docs/formats.md): an 8-byte magic, u32 version, u32 header length, a UTF-8 JSON
/// header (kind, config, training state, tensor table), the raw little-endian tensor payload, and a SHA-256 of
/// everything before it. Plain data only: no type names, nothing is deserialised into code.
/// </summary>
public static class NvqFile
{
    /// <summary>0x89 "NVQ" CR LF 0x1A LF, PNG-style: a text-mode transfer or a non-NVQ file fails the check at once.</summary>
    public static ReadOnlySpan<byte> Magic => [0x89, (byte)'N', (byte)'V', (byte)'Q', 0x0D, 0x0A, 0x1A, 0x0A];
    public const uint FormatVersion = 1;
    /// <summary>Payload and every tensor start at a multiple of this (mmap- and SIMD-friendly).</summary>
    public const int Alignment = 64;
    private const int Prelude = 16, DigestBytes = 32;
    private const int MaxHeaderBytes = 64 << 20;

    /// <summary>
    /// Writes a checkpoint to <c>path.tmp</c> and renames it over <paramref name="path"/>, so a crash or error never
    /// leaves a partial file at the target (an existing checkpoint stays intact until the new one is complete).
    /// </summary>
    public static void Write(string path, string kind, JsonObject? config, IEnumerable<(string Name, Tensor Tensor)> tensors, JsonObject? training)
    {
        if (string.IsNullOrWhiteSpace(kind)) throw new ArgumentException("checkpoint kind must be given");
        var list = tensors.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in list)
        {
            if (string.IsNullOrEmpty(name)) throw new ArgumentException("tensor names must be non-empty");
            if (!seen.Add(name)) throw new ArgumentException($"tensor name '{name}' appears twice");
        }
        var table = new JsonArray();
        long offset = 0;
        foreach (var (name, t) in list)
        {
            long nbytes = 4L * t.Numel;
            table.Add(new JsonObject
            {
                ["name"] = name,
                ["dtype"] = t.DType == DType.F32 ? "f32" : "i32",
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["offset"] = offset,
                ["nbytes"] = nbytes,
            });
            offset = Align(offset + nbytes);
        }
        long payloadBytes = offset;
        var header = new JsonObject
        {
            ["kind"] = kind,
            ["config"] = config?.DeepClone() ?? new JsonObject(),
            ["training"] = training?.DeepClone() ?? new JsonObject(),
            ["tensors"] = table,
            ["payload_bytes"] = payloadBytes,
        };
        var json = Encoding.UTF8.GetBytes(header.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        // Pad the header with spaces (valid trailing JSON whitespace) so the payload starts aligned.
        int headerLen = (int)(Align(Prelude + json.Length) - Prelude);
        var headerBytes = new byte[headerLen];
        json.CopyTo(headerBytes, 0);
        headerBytes.AsSpan(json.Length).Fill((byte)' ');

        ImageIO.WriteAtomic(path, stream =>
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            void Put(ReadOnlySpan<byte> bytes) { stream.Write(bytes); sha.AppendData(bytes); }
            Span<byte> prelude = stackalloc byte[Prelude];
            Magic.CopyTo(prelude);
            BinaryPrimitives.WriteUInt32LittleEndian(prelude[8..], FormatVersion);
            BinaryPrimitives.WriteUInt32LittleEndian(prelude[12..], (uint)headerLen);
            Put(prelude);
            Put(headerBytes);
            long written = 0;
            var zeros = new byte[Alignment];
            foreach (var (name, t) in list)
            {
                if (t.IsDisposed) throw new InvalidOperationException($"tensor '{name}' was disposed before it could be saved");
                byte[] bytes;
                if (t.DType == DType.F32) bytes = ToLittleEndian(t.ToArray());
                else bytes = ToLittleEndian(t.ToIntArray());
                Put(bytes);
                written += bytes.Length;
                int pad = (int)(Align(written) - written);
                Put(zeros.AsSpan(0, pad));
                written += pad;
            }
            if (written != payloadBytes) throw new InvalidOperationException("payload size changed while writing");
            stream.Write(sha.GetHashAndReset());
        });
    }

    /// <summary>Reads and verifies a whole checkpoint (magic, version, length, SHA-256, tensor table).</summary>
    public static NvqCheckpoint Read(string path) => Parse(path, headerOnly: false);

    /// <summary>Kind, config and training state plus tensor names and shapes, without reading or verifying the payload.</summary>
    public static NvqCheckpoint ReadHeader(string path) => Parse(path, headerOnly: true);

    /// <summary>Reads <paramref name="path"/>, checks its kind (when given) and loads it into <paramref name="targets"/>.</summary>
    public static NvqCheckpoint LoadInto(string path, IEnumerable<(string Name, Tensor Tensor)> targets, bool strict = true, string? kind = null)
    {
        var ck = Read(path);
        if (kind is not null) ck.RequireKind(kind);
        ck.LoadInto(targets, strict);
        return ck;
    }

    private static NvqCheckpoint Parse(string path, bool headerOnly)
    {
        if (Directory.Exists(path)) throw new UserError($"{path}: is a folder, expected a checkpoint file (.nvq)");
        byte[] data;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (fs.Length > int.MaxValue) throw new UserError($"{path}: checkpoint larger than 2 GiB is not supported");
            int want = (int)fs.Length;
            if (headerOnly && fs.Length >= Prelude)
            {
                Span<byte> pre = stackalloc byte[Prelude];
                fs.ReadExactly(pre);
                uint hl = BinaryPrimitives.ReadUInt32LittleEndian(pre[12..]);
                want = (int)Math.Min(fs.Length, Prelude + (long)Math.Min(hl, (uint)MaxHeaderBytes));
                fs.Position = 0;
            }
            data = new byte[want];
            fs.ReadExactly(data);
        }
        catch (FileNotFoundException) { throw new UserError($"{path}: checkpoint not found"); }
        catch (DirectoryNotFoundException) { throw new UserError($"{path}: checkpoint not found (no such folder)"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new UserError($"{path}: cannot read ({ImageIO.OneLine(e.Message)})", e); }

        UserError Bad(string what) => new($"{path}: {what}");
        if (data.Length < 8 || !data.AsSpan(0, 8).SequenceEqual(Magic))
            throw Bad(data.Length < 8 && Magic.StartsWith(data) ? "truncated (file ends inside the magic bytes)" : "not a NativeVq checkpoint (bad magic bytes)");
        if (data.Length < Prelude) throw Bad($"truncated ({data.Length} bytes, the fixed header alone is {Prelude})");
        uint version = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(8));
        if (version != FormatVersion) throw Bad($"checkpoint format version {version}, this NativeVq reads version {FormatVersion}");
        uint headerLen = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(12));
        if (headerLen > MaxHeaderBytes) throw Bad($"corrupt (header length {headerLen})");
        if (data.Length < Prelude + headerLen) throw Bad($"truncated (file has {data.Length} bytes, the header alone needs {Prelude + headerLen})");

        long payloadStart = Prelude + headerLen;
        bool verified = false;
        if (!headerOnly)
        {
            // The checksum first: it covers the header too, so a damaged byte anywhere is reported as damage
            // rather than as whatever the JSON parser makes of it.
            if (data.Length < payloadStart + DigestBytes) throw Bad($"truncated (file has {data.Length} bytes, the header and checksum alone need {payloadStart + DigestBytes})");
            int hashed = data.Length - DigestBytes;
            if (!SHA256.HashData(data.AsSpan(0, hashed)).AsSpan().SequenceEqual(data.AsSpan(hashed, DigestBytes)))
                throw Bad(LengthProblem(data, (int)headerLen) ?? "corrupt (SHA-256 checksum mismatch: the file was damaged after it was written)");
            verified = true;
        }
        try { return ParseHeader(path, data, version, (int)headerLen, payloadStart, verified); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or ArgumentException or OverflowException or KeyNotFoundException or NullReferenceException)
        {
            throw Bad($"corrupt header ({ImageIO.OneLine(e.Message)})");
        }
    }

    /// <summary>When the checksum fails, a file of the wrong length (cut short, bytes appended) says so, if its header is readable.</summary>
    private static string? LengthProblem(byte[] data, int headerLen)
    {
        try
        {
            var json = data.AsSpan(Prelude, headerLen);
            if (!System.Text.Unicode.Utf8.IsValid(json) || JsonNode.Parse(json) is not JsonObject h || Long(h, "payload_bytes") is not long pb || pb < 0) return null;
            long expected = Prelude + headerLen + pb + DigestBytes;
            if (data.Length < expected) return $"truncated (file has {data.Length} bytes, expected {expected})";
            if (data.Length > expected) return $"corrupt ({data.Length - expected} unexpected bytes after the checksum)";
            return null;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or ArgumentException) { return null; }
    }

    private static NvqCheckpoint ParseHeader(string path, byte[] data, uint version, int headerLen, long payloadStart, bool verified)
    {
        UserError Bad(string what) => new($"{path}: {what}");
        var json = data.AsSpan(Prelude, headerLen);
        if (!System.Text.Unicode.Utf8.IsValid(json)) throw Bad("corrupt header (not valid UTF-8 text)");
        var header = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 256 }) as JsonObject
            ?? throw Bad("corrupt header (not a JSON object)");

        string kind = Str(header, "kind") ?? throw Bad("corrupt header (no kind)");
        var config = header["config"] as JsonObject ?? throw Bad("corrupt header (config is not an object)");
        var training = header["training"] as JsonObject ?? new JsonObject();
        long payloadBytes = Long(header, "payload_bytes") ?? throw Bad("corrupt header (no payload_bytes)");
        if (header["tensors"] is not JsonArray table) throw Bad("corrupt header (no tensor table)");

        var tensors = new List<NvqTensor>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (verified)
        {
            long expected = payloadStart + payloadBytes + DigestBytes;
            if (payloadBytes < 0 || data.Length < expected) throw Bad($"truncated (file has {data.Length} bytes, expected {expected})");
            if (data.Length > expected) throw Bad($"corrupt ({data.Length - expected} unexpected bytes after the checksum)");
        }
        foreach (var node in table)
        {
            if (node is not JsonObject e) throw Bad("corrupt tensor table entry");
            string name = Str(e, "name") ?? throw Bad("corrupt tensor table (entry without name)");
            if (!names.Add(name)) throw Bad($"corrupt tensor table (tensor '{name}' twice)");
            var dtype = Str(e, "dtype") switch
            {
                "f32" => DType.F32,
                "i32" => DType.I32,
                var other => throw Bad($"tensor '{name}' has unsupported dtype '{other}'"),
            };
            if (e["shape"] is not JsonArray sa) throw Bad($"corrupt tensor table (tensor '{name}' has no shape)");
            int[] shape;
            long numel = 1;
            try
            {
                shape = sa.Select(d => d!.GetValue<int>()).ToArray();
                foreach (var d in shape) { if (d < 0) throw new FormatException(); numel = checked(numel * d); }
            }
            catch (Exception ex) when (ex is FormatException or InvalidOperationException or NullReferenceException or OverflowException)
            { throw Bad($"corrupt tensor table (tensor '{name}' has a bad shape)"); }
            long off = Long(e, "offset") ?? -1, nb = Long(e, "nbytes") ?? -1;
            if (nb != 4 * numel || off < 0 || off + nb > payloadBytes)
                throw Bad($"corrupt tensor table (tensor '{name}': offset {off}, {nb} bytes, shape {ShapeUtil.Format(shape)}, payload {payloadBytes} bytes)");
            float[]? f = null; int[]? i = null;
            if (verified)
            {
                var src = data.AsSpan((int)(payloadStart + off), (int)nb);
                if (dtype == DType.F32) { f = new float[numel]; CopyLittleEndian(src, MemoryMarshal.AsBytes(f.AsSpan())); }
                else { i = new int[numel]; CopyLittleEndian(src, MemoryMarshal.AsBytes(i.AsSpan())); }
            }
            tensors.Add(new NvqTensor(name, dtype, shape, f, i));
        }
        return new NvqCheckpoint(path, version, kind, config, training, tensors);
    }

    private static string? Str(JsonObject o, string key)
        => o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static long? Long(JsonObject o, string key)
        => o[key] is JsonValue v && v.TryGetValue<long>(out var l) ? l : null;

    private static long Align(long x) => (x + Alignment - 1) / Alignment * Alignment;

    private static byte[] ToLittleEndian<T>(T[] values) where T : struct
    {
        var bytes = MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian) for (int k = 0; k < bytes.Length; k += 4) bytes.AsSpan(k, 4).Reverse();
        return bytes;
    }

    private static void CopyLittleEndian(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        src.CopyTo(dst);
        if (!BitConverter.IsLittleEndian) for (int k = 0; k < dst.Length; k += 4) dst.Slice(k, 4).Reverse();
    }
}
