namespace NativeVq;

/// <summary>
/// Collects every tensor created on this thread while it is the innermost scope and disposes them together
/// (their buffers go back to the pool). A training step runs inside one, so its activations, gradients of
/// intermediates and temporaries are recycled for the next step. Tensors created with no scope open
/// (parameters, optimizer state) belong to their creator. Use <see cref="Keep"/> to let one survive.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;
    private readonly TensorScope? _outer;
    private readonly List<Tensor> _tensors = new();
    private bool _disposed;

    public TensorScope()
    {
        _outer = _current;
        _current = this;
    }

    internal static void Track(Tensor t) => _current?._tensors.Add(t);

    /// <summary>Runs <paramref name="make"/> with no scope active: what it creates is owned by the caller.</summary>
    public static T Unscoped<T>(Func<T> make)
    {
        var saved = _current;
        _current = null;
        try { return make(); }
        finally { _current = saved; }
    }

    /// <summary>Moves <paramref name="t"/> to the enclosing scope (or to the caller when there is none).</summary>
    public Tensor Keep(Tensor t)
    {
        if (_tensors.Remove(t)) _outer?._tensors.Add(t);
        return t;
    }

    public int Count => _tensors.Count;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in _tensors) t.Dispose();
        _tensors.Clear();
        if (_current == this) _current = _outer;
    }
}
