namespace NativeVq.Cpu;

/// <summary>Memory of the <c>cpu</c> backend: a managed array (float or int).</summary>
public sealed class CpuMemory : DeviceMemory
{
    public CpuMemory(Backend backend, int length, DType dtype) : base(backend, length, dtype)
    {
        if (dtype == DType.F32) F = GC.AllocateUninitializedArray<float>(length, pinned: false);
        else I = new int[length];
    }

    public float[] F { get; } = Array.Empty<float>();
    public int[] I { get; } = Array.Empty<int>();

    public override void Release() { }
}

/// <summary>
/// The managed SIMD backend. Each kernel family lives in its own file beside this one (Elementwise.cs,
/// Gemm.cs, Conv.cs, ...) as span-level static code; this class is the thin adapter from tensors to spans.
/// Every kernel is deterministic: parallel loops split work into fixed chunks and reductions combine
/// partial results in a fixed order, so the same seed gives bit-identical results run to run.
/// </summary>
public sealed partial class CpuBackend : Backend
{
    public static CpuBackend Instance { get; } = new();

    /// <summary>A backend with its own buffer pool (tests and benches that count allocations use one).</summary>
    public CpuBackend() { }

    public override string Name => "cpu";

    public override string Description =>
        $"managed SIMD, {Environment.ProcessorCount} threads, Vector<float>.Count = {System.Numerics.Vector<float>.Count}, " +
        $"AVX-512 {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "yes" : "no")}";

    /// <summary>
    /// 32 images of the default models keep each activation near 0.5 MB, so a whole forward pass works out of
    /// L2/L3 instead of streaming 4 MB tensors through DRAM: measured 20 % faster PixelSNAIL NLL at batch 256.
    /// </summary>
    public override int InferenceSubBatch => 32;

    protected internal override DeviceMemory AllocateMemory(int length, DType dtype) => new CpuMemory(this, length, dtype);

    public override void Upload(ReadOnlySpan<float> src, DeviceMemory dst) => src.CopyTo(((CpuMemory)dst).F);
    public override void Upload(ReadOnlySpan<int> src, DeviceMemory dst) => src.CopyTo(((CpuMemory)dst).I);
    public override void Download(DeviceMemory src, Span<float> dst) => ((CpuMemory)src).F.AsSpan(0, dst.Length).CopyTo(dst);
    public override void Download(DeviceMemory src, Span<int> dst) => ((CpuMemory)src).I.AsSpan(0, dst.Length).CopyTo(dst);

    /// <summary>The tensor's float elements.</summary>
    internal Span<float> F(Tensor t)
    {
        RequireBackend(this, t);
        t.RequireDType(DType.F32);
        return ((CpuMemory)t.Memory).F.AsSpan(0, t.Numel);
    }

    /// <summary>The tensor's int elements.</summary>
    internal Span<int> I(Tensor t)
    {
        RequireBackend(this, t);
        t.RequireDType(DType.I32);
        return ((CpuMemory)t.Memory).I.AsSpan(0, t.Numel);
    }

    internal float[] Array(Tensor t)
    {
        RequireBackend(this, t);
        t.RequireDType(DType.F32);
        return ((CpuMemory)t.Memory).F;
    }
}
