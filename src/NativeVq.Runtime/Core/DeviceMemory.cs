namespace NativeVq;

/// <summary>
/// A block of memory owned by one backend (a managed array on <c>cpu</c>, an ILGPU buffer on the GPU paths).
/// Tensors borrow it from the backend's <see cref="BufferPool"/> and give it back on dispose.
/// </summary>
public abstract class DeviceMemory
{
    protected DeviceMemory(Backend backend, int length, DType dtype)
    {
        Backend = backend;
        Length = length;
        DType = dtype;
    }

    public Backend Backend { get; }
    public int Length { get; }
    public DType DType { get; }
    public long Bytes => 4L * Length;

    /// <summary>Frees the underlying device allocation for good (the pool calls this when it is cleared).</summary>
    public abstract void Release();
}
