using ILGPU;
using ILGPU.Runtime;

namespace NativeVq.Kernels;

/// <summary>Memory of the ILGPU backends: one dense device buffer.</summary>
public sealed class IlgpuMemory : DeviceMemory
{
    public IlgpuMemory(IlgpuBackend backend, int length, DType dtype) : base(backend, length, dtype)
    {
        // ILGPU refuses zero-length buffers on some accelerators; keep one element so views stay valid.
        if (dtype == DType.F32) FloatBuffer = backend.Accelerator.Allocate1D<float>(Math.Max(1, length));
        else IntBuffer = backend.Accelerator.Allocate1D<int>(Math.Max(1, length));
    }

    public MemoryBuffer1D<float, Stride1D.Dense>? FloatBuffer { get; }
    public MemoryBuffer1D<int, Stride1D.Dense>? IntBuffer { get; }

    public override void Release()
    {
        FloatBuffer?.Dispose();
        IntBuffer?.Dispose();
    }
}

/// <summary>
/// The GPU path: every primitive is an ILGPU kernel (one file per family beside this one, e.g.
/// ElementwiseKernels.cs) launched on <see cref="Accelerator"/> — a CUDA device for <c>cuda</c>, ILGPU's CPU
/// simulator for <c>ilgpu-cpu</c>. Kernels are implicitly grouped, one thread per output element, and
/// compiled once per backend on first use.
/// </summary>
public sealed partial class IlgpuBackend : Backend
{
    private readonly Context _context;
    private readonly string _name;

    internal IlgpuBackend(Context context, Accelerator accelerator, string name)
    {
        _context = context;
        Accelerator = accelerator;
        _name = name;
        UseTiledGemm = accelerator.AcceleratorType == AcceleratorType.Cuda;
        UseFusedAttention = UseTiledGemm;
    }

    public Accelerator Accelerator { get; }

    public override string Name => _name;

    public override string Description => $"ILGPU {Accelerator.AcceleratorType}: {Accelerator.Name}, {Accelerator.MemorySize / (1 << 20)} MiB";

    protected internal override DeviceMemory AllocateMemory(int length, DType dtype) => new IlgpuMemory(this, length, dtype);

    // Uploads wait for queued kernels first: the copy from host memory runs at once, while a kernel queued
    // earlier may still write this buffer (pooled buffers are reused as soon as a scope ends).
    // Host spans are pinned for the copy: ILGPU's CopyFromCPU/CopyToCPU take the address as a raw pointer, so an
    // unpinned managed array moved by a GC on another thread made a copy read or write stale memory (tests saw
    // whole results of 0 when the suite ran in parallel).
    public override unsafe void Upload(ReadOnlySpan<float> src, DeviceMemory dst)
    {
        if (src.Length == 0) return;
        using var _ = CountedCopy(true, 4L * src.Length);
        Accelerator.Synchronize();
        fixed (float* p = src) F(dst).SubView(0, src.Length).CopyFromCPU(ref *p, src.Length);
    }

    public override unsafe void Upload(ReadOnlySpan<int> src, DeviceMemory dst)
    {
        if (src.Length == 0) return;
        using var _ = CountedCopy(true, 4L * src.Length);
        Accelerator.Synchronize();
        fixed (int* p = src) I(dst).SubView(0, src.Length).CopyFromCPU(ref *p, src.Length);
    }

    public override unsafe void Download(DeviceMemory src, Span<float> dst)
    {
        if (dst.Length == 0) return;
        using var _ = CountedCopy(false, 4L * dst.Length);
        Accelerator.Synchronize();
        fixed (float* p = dst) F(src).SubView(0, dst.Length).CopyToCPU(ref *p, dst.Length);
    }

    public override unsafe void Download(DeviceMemory src, Span<int> dst)
    {
        if (dst.Length == 0) return;
        using var _ = CountedCopy(false, 4L * dst.Length);
        Accelerator.Synchronize();
        fixed (int* p = dst) I(src).SubView(0, dst.Length).CopyToCPU(ref *p, dst.Length);
    }

    public override void Synchronize() => Accelerator.Synchronize();

    /// <summary>Counts one host↔device copy (<see cref="Backend.Transfers"/>) and, with the profiler on, times it as an event.</summary>
    private Profiler.KernelTimer CountedCopy(bool toDevice, long bytes)
    {
        if (toDevice) Transfers.CountUpload(bytes);
        else Transfers.CountDownload(bytes);
        return Profiler.Kernel(this, toDevice ? "copy.host_to_device" : "copy.device_to_host", 0, bytes);
    }

    /// <summary>The tensor's float elements as a device view of exactly Numel elements.</summary>
    internal ArrayView<float> F(Tensor t)
    {
        RequireBackend(this, t);
        t.RequireDType(DType.F32);
        return F(t.Memory).SubView(0, t.Numel);
    }

    internal ArrayView<int> I(Tensor t)
    {
        RequireBackend(this, t);
        t.RequireDType(DType.I32);
        return I(t.Memory).SubView(0, t.Numel);
    }

    private static ArrayView<float> F(DeviceMemory m) => ((IlgpuMemory)m).FloatBuffer!.View;
    private static ArrayView<int> I(DeviceMemory m) => ((IlgpuMemory)m).IntBuffer!.View;

    public override void Dispose()
    {
        base.Dispose();
        _partials?.Dispose();
        _splitPartials?.Dispose();
        _codeNorms?.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
