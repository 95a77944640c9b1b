using System.Text;

namespace NativeVq;

/// <summary>
/// A dense, contiguous, row-major tensor (NCHW for images) living in one backend's memory.
/// <see cref="Reshape"/> returns a view that shares memory; every other op writes a new tensor.
/// Autograd state (<see cref="RequiresGrad"/>, <see cref="Grad"/>, the node that made it) sits here too,
/// micrograd-style: <see cref="Backward()"/> walks the graph from this tensor.
/// </summary>
public sealed class Tensor : IDisposable
{
    private bool _ownsMemory;
    private bool _disposed;

    internal Tensor(DeviceMemory memory, int[] shape, bool ownsMemory)
    {
        Memory = memory;
        Shape = shape;
        Numel = ShapeUtil.Numel(shape);
        if (Numel > memory.Length) throw new ArgumentException($"shape {ShapeUtil.Format(shape)} needs {Numel} elements, memory holds {memory.Length}");
        _ownsMemory = ownsMemory;
        TensorScope.Track(this);
    }

    public DeviceMemory Memory { get; }
    public Backend Backend => Memory.Backend;
    public DType DType => Memory.DType;
    public int[] Shape { get; }
    public int Numel { get; }
    public int Rank => Shape.Length;
    /// <summary>Size of dimension <paramref name="dim"/>; negative counts from the end.</summary>
    public int Dim(int dim) => Shape[dim < 0 ? Shape.Length + dim : dim];

    /// <summary>Name for diagnostics (parameters carry their state-dict key).</summary>
    public string? Name { get; set; }

    // ---- autograd ----
    /// <summary>True for parameters and for every tensor computed from one while grad mode is on.</summary>
    public bool RequiresGrad { get; set; }
    /// <summary>Accumulated gradient (same shape), allocated on first use and zero-filled.</summary>
    public Tensor? Grad { get; internal set; }
    internal GradNode? Node { get; set; }
    /// <summary>True when nothing computed this tensor inside the graph (parameters and inputs).</summary>
    public bool IsLeaf => Node is null;

    public static Tensor Empty(Backend backend, DType dtype, params int[] shape)
        => new(backend.Pool.Rent(ShapeUtil.Numel(shape), dtype), (int[])shape.Clone(), ownsMemory: true);

    public static Tensor Empty(Backend backend, params int[] shape) => Empty(backend, DType.F32, shape);

    public static Tensor Zeros(Backend backend, params int[] shape)
    {
        var t = Empty(backend, shape);
        backend.Fill(t, 0f);
        return t;
    }

    public static Tensor Full(Backend backend, float value, params int[] shape)
    {
        var t = Empty(backend, shape);
        backend.Fill(t, value);
        return t;
    }

    public static Tensor FromArray(Backend backend, ReadOnlySpan<float> data, params int[] shape)
    {
        if (data.Length != ShapeUtil.Numel(shape)) throw new ArgumentException($"{data.Length} values for shape {ShapeUtil.Format(shape)}");
        var t = Empty(backend, DType.F32, shape);
        backend.Upload(data, t.Memory);
        return t;
    }

    public static Tensor FromArray(Backend backend, ReadOnlySpan<int> data, params int[] shape)
    {
        if (data.Length != ShapeUtil.Numel(shape)) throw new ArgumentException($"{data.Length} values for shape {ShapeUtil.Format(shape)}");
        var t = Empty(backend, DType.I32, shape);
        backend.Upload(data, t.Memory);
        return t;
    }

    /// <summary>
    /// Codes checked on the host to lie in [0, k) and uploaded: one-hot and cross-entropy with this tensor (and
    /// K ≥ k) skip their device-side range checks, which read back from the device (a host round trip in a training step).
    /// </summary>
    public static Tensor FromCodes(Backend backend, ReadOnlySpan<int> codes, int k, params int[] shape)
    {
        for (int i = 0; i < codes.Length; i++)
            if ((uint)codes[i] >= (uint)k) throw new ArgumentOutOfRangeException(nameof(codes), $"code {codes[i]} at flat position {i} is outside [0, {k})");
        var t = FromArray(backend, codes, shape);
        t.CodesCheckedBelow = k;
        return t;
    }

    /// <summary>k when this tensor was made by <see cref="FromCodes"/> (every element in [0, k)); 0 = not known.</summary>
    public int CodesCheckedBelow { get; private set; }

    /// <summary>Whether every element is known to be a code below <paramref name="k"/> without looking.</summary>
    public bool CodesKnownBelow(int k) => CodesCheckedBelow > 0 && CodesCheckedBelow <= k;

    public float[] ToArray()
    {
        RequireDType(DType.F32);
        var a = new float[Numel];
        Backend.Download(Memory, a);
        return a;
    }

    public int[] ToIntArray()
    {
        RequireDType(DType.I32);
        var a = new int[Numel];
        Backend.Download(Memory, a);
        return a;
    }

    /// <summary>The single value of a one-element tensor (synchronises the device).</summary>
    public float Item()
    {
        if (Numel != 1) throw new InvalidOperationException($"Item() needs one element, tensor has shape {ShapeUtil.Format(Shape)}");
        return ToArray()[0];
    }

    /// <summary>A view with another shape over the same memory. Gradients flow through it.</summary>
    public Tensor Reshape(params int[] shape) => F.Reshape(this, shape);

    internal Tensor View(int[] shape) => new(Memory, shape, ownsMemory: false);

    /// <summary>A tensor that shares memory but is cut from the graph (torch's detach).</summary>
    public Tensor Detach() => View((int[])Shape.Clone());

    /// <summary>Copies the values into a new tensor on <paramref name="backend"/>.</summary>
    public Tensor To(Backend backend)
    {
        if (DType == DType.F32) return FromArray(backend, ToArray(), Shape);
        return FromArray(backend, ToIntArray(), Shape);
    }

    // ---- autograd entry points ----
    /// <summary>Back-propagates from this scalar (seeded with 1) into every tensor that requires grad.</summary>
    public void Backward() => Autograd.Backward(this, null);

    /// <summary>Back-propagates with an explicit upstream gradient of this tensor's shape.</summary>
    public void Backward(Tensor upstream) => Autograd.Backward(this, upstream);

    /// <summary>Returns <see cref="Grad"/>, allocating a zero gradient (<see cref="NewGrad"/>, filled) if needed.</summary>
    internal Tensor GradOrZeros()
    {
        if (Grad is null) Backend.Fill(NewGrad(), 0f);
        return Grad!;
    }

    /// <summary>
    /// A gradient buffer for a tensor that has none yet, left unfilled: the caller overwrites every element
    /// (<see cref="Backend.GradCopy"/>). Leaf gradients (parameters) outlive the step's scope; intermediate ones die with it.
    /// </summary>
    internal Tensor NewGrad()
    {
        if (Grad is not null) throw new InvalidOperationException("NewGrad: the tensor already has a gradient");
        Grad = IsLeaf
            ? TensorScope.Unscoped(() => Empty(Backend, Shape))
            : Empty(Backend, Shape);
        return Grad;
    }

    /// <summary>
    /// A tensor of <paramref name="shape"/> that takes over this one's memory and its return to the pool: this tensor
    /// stays readable until the new owner is disposed, and its own Dispose no longer frees anything.
    /// </summary>
    internal Tensor HandOver(int[] shape)
    {
        if (!_ownsMemory || _disposed) throw new InvalidOperationException("HandOver: the tensor does not own live memory");
        _ownsMemory = false;
        return new Tensor(Memory, (int[])shape.Clone(), ownsMemory: true);
    }

    public void ZeroGrad()
    {
        if (Grad is not null) Backend.Fill(Grad, 0f);
    }

    public void RequireDType(DType dtype)
    {
        if (DType != dtype) throw new InvalidOperationException($"expected a {dtype} tensor, got {DType} {ShapeUtil.Format(Shape)}");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Node = null;
        if (_ownsMemory) Backend.Pool.Return(Memory);
    }

    public bool IsDisposed => _disposed;

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("Tensor").Append(ShapeUtil.Format(Shape)).Append(' ').Append(DType).Append(" on ").Append(Backend.Name);
        if (Name is not null) sb.Append(" '").Append(Name).Append('\'');
        return sb.ToString();
    }
}

public static class ShapeUtil
{
    public static int Numel(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException("negative dimension");
            n *= d;
        }
        if (n > int.MaxValue) throw new ArgumentException("tensor too large");
        return (int)n;
    }

    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(",", shape.ToArray()) + "]";

    public static bool Same(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    public static void RequireSame(Tensor a, Tensor b, string op)
    {
        if (!Same(a.Shape, b.Shape))
            throw new ArgumentException($"{op}: shapes differ, {Format(a.Shape)} vs {Format(b.Shape)}");
    }

    public static void RequireRank(Tensor t, int rank, string op, string what)
    {
        if (t.Rank != rank) throw new ArgumentException($"{op}: {what} must have rank {rank}, got {Format(t.Shape)}");
    }
}
