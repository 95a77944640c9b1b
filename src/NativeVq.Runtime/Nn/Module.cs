namespace NativeVq.Nn;

/// <summary>
/// Base of every layer and model, in the PyTorch / TorchSharp shape: parameters and submodules are
/// registered by name in construction order, so <see cref="NamedParameters"/> yields state-dict keys such as
/// <c>enc.res.0.c1.weight</c> and checkpoints can match tensors by name and shape.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor Tensor)> _parameters = new();
    private readonly List<(string Name, Tensor Tensor)> _buffers = new();
    private readonly List<(string Name, Module Module)> _children = new();

    /// <summary>Training mode (dropout active). Set recursively by <see cref="Train"/> / <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    /// <summary>Registers a trainable tensor (requires grad, owned by the module: created outside any scope).</summary>
    protected Tensor RegisterParameter(string name, Tensor tensor)
    {
        tensor.RequiresGrad = true;
        tensor.Name = name;
        _parameters.Add((name, tensor));
        return tensor;
    }

    /// <summary>Registers state that is saved but not trained (masks, positional grids, EMA statistics).</summary>
    protected Tensor RegisterBuffer(string name, Tensor tensor)
    {
        tensor.Name = name;
        _buffers.Add((name, tensor));
        return tensor;
    }

    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters(string prefix = "")
    {
        foreach (var (n, t) in _parameters) yield return (prefix + n, t);
        foreach (var (n, m) in _children)
            foreach (var p in m.NamedParameters(prefix + n + ".")) yield return p;
    }

    public IEnumerable<(string Name, Tensor Tensor)> NamedBuffers(string prefix = "")
    {
        foreach (var (n, t) in _buffers) yield return (prefix + n, t);
        foreach (var (n, m) in _children)
            foreach (var b in m.NamedBuffers(prefix + n + ".")) yield return b;
    }

    /// <summary>Parameters and buffers: everything a checkpoint must hold to rebuild the module.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> StateDict() => NamedParameters().Concat(NamedBuffers());

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Tensor);

    public IEnumerable<(string Name, Module Module)> Children() => _children;

    public long ParameterCount() => Parameters().Sum(p => (long)p.Numel);

    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.ZeroGrad();
    }

    public Module Train(bool on = true)
    {
        Training = on;
        foreach (var (_, m) in _children) m.Train(on);
        return this;
    }

    public Module Eval() => Train(false);
}
