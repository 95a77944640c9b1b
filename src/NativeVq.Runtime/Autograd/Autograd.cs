namespace NativeVq;

/// <summary>One recorded op: which tensors it read and how to push its output gradient back into theirs.</summary>
internal sealed class GradNode
{
    public GradNode(string op, Tensor[] inputs, Action<Tensor> backward)
    {
        Op = op;
        Inputs = inputs;
        BackwardFn = backward;
    }

    public string Op { get; }
    public Tensor[] Inputs { get; }
    /// <summary>Receives the output's gradient; accumulates into each input's <c>Grad</c> that requires one.</summary>
    public Action<Tensor> BackwardFn { get; }
}

/// <summary>
/// Reverse-mode autodiff. Ops call <see cref="Record"/>; <see cref="Backward"/> sorts the graph reachable from
/// the loss topologically and runs each node's backward once, newest first. Gradients accumulate (+=) into
/// <c>Tensor.Grad</c>, so parameters keep summing across calls until <c>ZeroGrad</c>.
/// </summary>
public static class Autograd
{
    [ThreadStatic] private static int _noGradDepth;

    /// <summary>False inside a <see cref="NoGrad"/> scope: ops record nothing.</summary>
    public static bool IsEnabled => _noGradDepth == 0;

    /// <summary>Inference mode for the returned scope: no graph is built, no gradient memory is kept.</summary>
    public static IDisposable NoGrad() => new NoGradScope();

    private sealed class NoGradScope : IDisposable
    {
        private bool _done;
        public NoGradScope() => _noGradDepth++;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            _noGradDepth--;
        }
    }

    /// <summary>True when an op reading <paramref name="inputs"/> must record a node.</summary>
    public static bool Needs(params Tensor?[] inputs)
    {
        if (!IsEnabled) return false;
        foreach (var t in inputs) if (t is not null && t.RequiresGrad) return true;
        return false;
    }

    /// <summary>Attaches a backward to <paramref name="output"/> when any input requires grad.</summary>
    public static void Record(string op, Tensor output, Tensor?[] inputs, Action<Tensor> backward)
    {
        if (!Needs(inputs)) return;
        var ins = inputs.Where(t => t is not null).Select(t => t!).ToArray();
        output.RequiresGrad = true;
        output.Node = new GradNode(op, ins, backward);
    }

    internal static void Backward(Tensor root, Tensor? upstream)
    {
        if (!root.RequiresGrad) throw new InvalidOperationException("Backward() on a tensor that does not require grad (was it computed under NoGrad, or from no parameter?)");
        if (upstream is null)
        {
            if (root.Numel != 1) throw new InvalidOperationException($"Backward() without an upstream gradient needs a scalar, got {ShapeUtil.Format(root.Shape)}");
            root.Backend.Fill(root.Grad ?? root.NewGrad(), 1f);
        }
        else
        {
            ShapeUtil.RequireSame(root, upstream, "Backward");
            F.Accumulate(root, upstream);
        }

        foreach (var t in TopologicalOrder(root))
        {
            if (t.Node is null || t.Grad is null) continue;
            _releasing = ReferenceEquals(t, root) ? null : t;
            try { t.Node.BackwardFn(t.Grad); }
            finally { _releasing = null; }
            // In topological order every consumer of t has already added into t.Grad, so an intermediate's gradient
            // is dead once its own backward ran: free it now instead of at the end of the step's scope. Otherwise
            // every intermediate gradient of the graph stays alive together (a second copy of all activations;
            // half of a 16x16 PixelSNAIL training step's peak, issue 12). Leaves (parameters, inputs) and the root keep theirs.
            if (!ReferenceEquals(t, root))
            {
                t.Grad.Dispose();
                t.Grad = null;
            }
        }
    }

    /// <summary>The non-root tensor whose backward is running: its gradient is freed right after, so the backward may reuse it.</summary>
    [ThreadStatic] private static Tensor? _releasing;

    /// <summary>
    /// True while <paramref name="output"/>'s own backward runs and its gradient dies right after it (it is not the
    /// root): that backward may then overwrite the gradient in place (an elementwise derivative) instead of writing a new buffer.
    /// </summary>
    internal static bool GradIsDying(Tensor output) => ReferenceEquals(_releasing, output) && output.Grad is not null;

    /// <summary>
    /// Hands <paramref name="output"/>'s dying gradient to <paramref name="input"/> as input's first gradient (a
    /// reshape's backward): no copy. Only into an intermediate without a gradient yet (a leaf's gradient must outlive
    /// the step's scope). The bits are GradCopy's 0 + g: every gradient buffer is first written as 0 + value (fill
    /// then add, GradCopy, the overwriting kernels' "0 +", sums started at +0), so none ever holds a −0 for the + 0 to change.
    /// </summary>
    internal static bool TryHandOverGrad(Tensor output, Tensor input)
    {
        if (!GradIsDying(output) || input.Grad is not null || !input.RequiresGrad || input.IsLeaf) return false;
        input.Grad = output.Grad!.HandOver(input.Shape);
        return true;
    }

    /// <summary>Nodes reachable from <paramref name="root"/>, outputs before the inputs they read.</summary>
    private static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        // Iterative DFS: PixelSNAIL graphs are deep enough to make recursion a risk.
        var stack = new Stack<(Tensor t, int next)>();
        stack.Push((root, 0));
        visited.Add(root);
        while (stack.Count > 0)
        {
            var (t, next) = stack.Pop();
            var inputs = t.Node?.Inputs ?? Array.Empty<Tensor>();
            if (next < inputs.Length)
            {
                stack.Push((t, next + 1));
                var child = inputs[next];
                if (child.RequiresGrad && visited.Add(child)) stack.Push((child, 0));
            }
            else order.Add(t);
        }
        order.Reverse();
        return order;
    }
}
