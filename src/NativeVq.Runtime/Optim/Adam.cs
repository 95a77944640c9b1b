namespace NativeVq.Optim;

/// <summary>
/// torch.optim.Adam (PyTorch 1.13 semantics, amsgrad off): per parameter, m and v start at 0; every
/// <see cref="Step"/> runs one fused <see cref="Backend.AdamStep"/> kernel whose bias corrections are computed in
/// double on the host. <paramref name="weightDecay"/> is PyTorch's L2 term (added to the gradient); <see cref="DecoupledWeightDecay"/> is AdamW's.
/// A parameter whose <see cref="Tensor.Grad"/> is null is skipped and its step count does not advance (as torch).
/// State tensors are created outside any <see cref="TensorScope"/>: they live as long as the optimizer.
/// </summary>
public sealed class Adam(IEnumerable<Tensor> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0)
    : IDisposable
{
    private readonly Tensor[] _params = Validate(parameters.ToArray());
    private (Tensor M, Tensor V)[]? _state;
    private int[] _steps = [];

    /// <summary>Learning rate; settable between steps for schedules.</summary>
    public float Lr { get; set; } = lr;
    public float Beta1 { get; } = beta1;
    public float Beta2 { get; } = beta2;
    public float Eps { get; } = eps;
    public float WeightDecay { get; } = weightDecay;

    /// <summary>
    /// AdamW's decoupled weight decay (torch.optim.AdamW): before each update p ← p·(1 − Lr·wd), independent of
    /// the gradient statistics, so every weight shrinks at the same relative rate whatever its gradient scale.
    /// </summary>
    public float DecoupledWeightDecay { get; init; }

    public IReadOnlyList<Tensor> Parameters => _params;

    /// <summary>Number of <see cref="Step"/> calls so far (restored by <see cref="RestoreState"/>).</summary>
    public int StepCount { get; private set; }

    /// <summary>Per-parameter step counts t used in the bias corrections (a parameter skipped for lack of a gradient lags).</summary>
    public IReadOnlyList<int> ParameterSteps => EnsureState().steps;

    /// <summary>(exp_avg, exp_avg_sq) per parameter, in parameter order: read them to checkpoint, write them (Upload) to restore.</summary>
    public IReadOnlyList<(Tensor M, Tensor V)> State => EnsureState().state;

    private static Tensor[] Validate(Tensor[] ps)
    {
        foreach (var p in ps)
            if (p.DType != DType.F32) throw new ArgumentException($"adam: parameter {p} is not float32");
        return ps;
    }

    private ((Tensor M, Tensor V)[] state, int[] steps) EnsureState()
    {
        if (_state is null)
        {
            _state = TensorScope.Unscoped(() => _params.Select(p => (Tensor.Zeros(p.Backend, p.Shape), Tensor.Zeros(p.Backend, p.Shape))).ToArray());
            _steps = new int[_params.Length];
        }
        return (_state, _steps);
    }

    /// <summary>One update of every parameter that has a gradient.</summary>
    public void Step()
    {
        var (state, steps) = EnsureState();
        for (int i = 0; i < _params.Length; i++)
        {
            var p = _params[i];
            if (p.Grad is null) continue;
            int t = ++steps[i];
            if (DecoupledWeightDecay > 0) p.Backend.Axpby(p, p, (float)(1 - AsDecimal(Lr) * AsDecimal(DecoupledWeightDecay)), 0f);
            var args = AdamArgs.ForStep(AsDecimal(Lr), AsDecimal(Beta1), AsDecimal(Beta2), AsDecimal(Eps), AsDecimal(WeightDecay), t);
            p.Backend.AdamStep(p, p.Grad, state[i].M, state[i].V, args);
        }
        StepCount++;
    }

    /// <summary>
    /// The double a user meant by a float hyper-parameter (0.999f → 0.999, its shortest round-trip decimal), so the
    /// host-side double arithmetic matches torch, whose hyper-parameters are Python doubles.
    /// </summary>
    internal static double AsDecimal(float f) => double.Parse(f.ToString("R", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Sets every parameter's gradient to zero (keeps the buffers).</summary>
    public void ZeroGrad()
    {
        foreach (var p in _params) p.ZeroGrad();
    }

    /// <summary>
    /// Restores a checkpoint: the step count, (m, v) per parameter as float arrays in parameter order, and
    /// optionally per-parameter steps (default: every parameter at <paramref name="stepCount"/>).
    /// </summary>
    public void RestoreState(int stepCount, IReadOnlyList<(float[] M, float[] V)> state, IReadOnlyList<int>? parameterSteps = null)
    {
        if (state.Count != _params.Length) throw new ArgumentException($"adam: checkpoint has state for {state.Count} parameters, optimizer has {_params.Length}");
        if (parameterSteps is not null && parameterSteps.Count != _params.Length) throw new ArgumentException("adam: parameterSteps count differs from the parameter count");
        var (st, steps) = EnsureState();
        for (int i = 0; i < _params.Length; i++)
        {
            var (m, v) = state[i];
            if (m.Length != _params[i].Numel || v.Length != _params[i].Numel)
                throw new ArgumentException($"adam: state {i} has {m.Length}/{v.Length} values, parameter {_params[i]} has {_params[i].Numel}");
            var be = _params[i].Backend;
            be.Upload(m, st[i].M.Memory);
            be.Upload(v, st[i].V.Memory);
            steps[i] = parameterSteps?[i] ?? stepCount;
        }
        StepCount = stepCount;
    }

    public void Dispose()
    {
        if (_state is null) return;
        foreach (var (m, v) in _state) { m.Dispose(); v.Dispose(); }
        _state = null;
    }
}
