namespace NativeVq;

/// <summary>
/// A device that owns memory and runs the primitive kernels every op is built from. The public methods
/// are the kernel launches: each one times itself through the <see cref="Profiler"/> and calls the
/// backend's <c>...Core</c> implementation. <c>cpu</c> implements them with SIMD C# (src/NativeVq.Runtime/Cpu),
/// <c>cuda</c> and <c>ilgpu-cpu</c> with the ILGPU kernels in kernels/NativeVq.Kernels.
/// Conventions: tensors are contiguous; forward kernels overwrite their output; backward kernels
/// accumulate (+=) into the gradient buffers they are given.
/// The kernel families are split over Backend.*.cs files, one per family.
/// </summary>
public abstract partial class Backend : IDisposable
{
    protected Backend() => Pool = new BufferPool(this);

    /// <summary>The name used to select this backend: cpu, ilgpu-cpu or cuda.</summary>
    public abstract string Name { get; }

    /// <summary>One line about the hardware, for logs and bench JSON.</summary>
    public abstract string Description { get; }

    public BufferPool Pool { get; }

    protected internal abstract DeviceMemory AllocateMemory(int length, DType dtype);

    public abstract void Upload(ReadOnlySpan<float> src, DeviceMemory dst);
    public abstract void Upload(ReadOnlySpan<int> src, DeviceMemory dst);
    public abstract void Download(DeviceMemory src, Span<float> dst);
    public abstract void Download(DeviceMemory src, Span<int> dst);

    /// <summary>
    /// Largest batch an inference pass should run at once; bigger batches are cut into sub-batches of this size
    /// (<see cref="SubBatches"/>). Unlimited by default: a GPU wants the widest launches it can get.
    /// </summary>
    public virtual int InferenceSubBatch => int.MaxValue;

    /// <summary>Waits for queued work (a no-op on cpu, whose kernels are synchronous).</summary>
    public virtual void Synchronize() { }

    public virtual void Dispose()
    {
        Pool.Clear();
        GC.SuppressFinalize(this);
    }

    protected static void RequireBackend(Backend self, Tensor t)
    {
        if (!ReferenceEquals(t.Backend, self))
            throw new InvalidOperationException($"tensor {t} lives on {t.Backend.Name}, kernel runs on {self.Name}");
    }
}
