namespace NativeVq;

/// <summary>
/// Runs a no-grad computation over a large batch in sub-batches of <see cref="Backend.InferenceSubBatch"/>
/// images and joins the results along dim 0. Models whose outputs depend on each image alone (every model here:
/// no batch statistics) give the same values either way; this is cache blocking, not an approximation.
/// </summary>
public static class SubBatches
{
    /// <summary>f(x) for x [N, ...], computed sub-batch by sub-batch when N exceeds the backend's preference.</summary>
    public static Tensor Map(Tensor x, Func<Tensor, Tensor> f)
    {
        int n = x.Rank == 0 ? 0 : x.Dim(0), size = x.Backend.InferenceSubBatch;
        if (n <= size || Autograd.IsEnabled) return f(x); // a graph cannot run through host copies
        var be = x.Backend;
        int per = x.Numel / n;
        float[]? xf = x.DType == DType.F32 ? x.ToArray() : null;
        int[]? xi = x.DType == DType.I32 ? x.ToIntArray() : null;
        float[]? outF = null;
        int[]? outI = null;
        int[]? outShape = null;
        int outPer = 0;
        for (int s = 0; s < n; s += size)
        {
            int m = Math.Min(size, n - s);
            var shape = (int[])x.Shape.Clone();
            shape[0] = m;
            using var scope = new TensorScope();
            var piece = xf is not null ? Tensor.FromArray(be, xf.AsSpan(s * per, m * per), shape) : Tensor.FromArray(be, xi.AsSpan(s * per, m * per), shape);
            var y = f(piece);
            if (outShape is null)
            {
                outShape = (int[])y.Shape.Clone();
                outShape[0] = n;
                outPer = y.Numel / m;
                if (y.DType == DType.F32) outF = new float[n * outPer];
                else outI = new int[n * outPer];
            }
            if (outF is not null) be.Download(y.Memory, outF.AsSpan(s * outPer, m * outPer));
            else be.Download(y.Memory, outI.AsSpan(s * outPer, m * outPer));
        }
        return outF is not null ? Tensor.FromArray(be, outF, outShape!) : Tensor.FromArray(be, outI!, outShape!);
    }
}
