namespace NativeVq;

/// <summary>
/// Reuses device buffers by exact (length, dtype). A training step builds the same graph every time, so after
/// the first step every request is served from the pool and steady-state steps allocate no device memory.
/// </summary>
public sealed class BufferPool
{
    private readonly Backend _backend;
    private readonly Dictionary<(int, DType), Stack<DeviceMemory>> _free = new();
    private readonly object _lock = new();

    internal BufferPool(Backend backend) => _backend = backend;

    /// <summary>Buffers created because the pool had none free.</summary>
    public long Allocations { get; private set; }
    /// <summary>Bytes of those buffers.</summary>
    public long AllocatedBytes { get; private set; }
    /// <summary>Requests served (new or reused).</summary>
    public long Rents { get; private set; }
    /// <summary>Bytes currently handed out to live tensors.</summary>
    public long BytesInUse { get; private set; }

    public DeviceMemory Rent(int length, DType dtype)
    {
        lock (_lock)
        {
            Rents++;
            if (_free.TryGetValue((length, dtype), out var stack) && stack.Count > 0)
            {
                var m = stack.Pop();
                BytesInUse += m.Bytes;
                return m;
            }
            Allocations++;
            AllocatedBytes += 4L * length;
            BytesInUse += 4L * length;
        }
        return _backend.AllocateMemory(length, dtype);
    }

    public void Return(DeviceMemory memory)
    {
        lock (_lock)
        {
            BytesInUse -= memory.Bytes;
            var key = (memory.Length, memory.DType);
            if (!_free.TryGetValue(key, out var stack)) _free[key] = stack = new Stack<DeviceMemory>();
            stack.Push(memory);
        }
    }

    /// <summary>Releases every free buffer back to the device.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            foreach (var s in _free.Values)
                while (s.Count > 0) s.Pop().Release();
            _free.Clear();
        }
    }
}
