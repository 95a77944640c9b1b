namespace NativeVq.Tests.Support;

/// <summary>
/// Finite-difference gradient check on the cpu backend. The op's outputs are reduced to the scalar
/// L = Σ u·f(x) with a fixed random u, whose analytic gradient comes from Backward(); each input element is
/// nudged by ±h and the central difference (L(x+h) − L(x−h)) / 2h, summed in double, must agree.
/// Tolerance: the backend computes in float32, so L carries a rounding error of about
/// 1e-7·Σ|u·f|; divided by 2h that is ~1e-4 relative for h = 1e-2, and the O(h²) truncation error of the
/// central difference is of the same order for smooth ops. Hence |analytic − numeric| ≤ atol + rtol·|numeric|
/// with rtol = atol = 1e-2 by default: tight enough to catch a wrong index, factor or sign.
/// Inputs with kinks (ReLU, L1, max) must be drawn away from them by the caller.
/// </summary>
public static class GradCheck
{
    public static void Check(Func<Tensor[], Tensor> op, Tensor[] inputs, double h = 1e-2, double rtol = 1e-2, double atol = 1e-2,
        int maxChecksPerInput = 60, int seed = 1)
    {
        var backend = inputs[0].Backend;
        foreach (var t in inputs) if (t.DType == DType.F32) t.RequiresGrad = true;
        var rng = new Random(seed);

        Tensor output;
        float[] u;
        using (var scope = new TensorScope())
        {
            output = op(inputs);
            u = Enumerable.Range(0, output.Numel).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var up = Tensor.FromArray(backend, u, output.Shape);
            output.Backward(up);
        }
        var analytic = inputs.Select(t => t.Grad?.ToArray()).ToArray();

        double Loss()
        {
            using var scope = new TensorScope();
            using var _ = Autograd.NoGrad();
            var o = op(inputs).ToArray();
            double s = 0;
            for (int i = 0; i < o.Length; i++) s += (double)u[i] * o[i];
            return s;
        }

        for (int ti = 0; ti < inputs.Length; ti++)
        {
            var t = inputs[ti];
            if (t.DType != DType.F32) continue;
            var values = t.ToArray();
            var g = analytic[ti] ?? new float[values.Length];
            var idx = Enumerable.Range(0, values.Length).OrderBy(_ => rng.Next()).Take(maxChecksPerInput);
            foreach (var i in idx)
            {
                float orig = values[i];
                values[i] = orig + (float)h; backend.Upload(values, t.Memory);
                double lp = Loss();
                values[i] = orig - (float)h; backend.Upload(values, t.Memory);
                double lm = Loss();
                values[i] = orig; backend.Upload(values, t.Memory);
                double numeric = (lp - lm) / (2 * h);
                double diff = Math.Abs(g[i] - numeric);
                if (!(diff <= atol + rtol * Math.Abs(numeric)))
                    Assert.Fail($"input {ti} {ShapeUtil.Format(t.Shape)} element {i}: analytic {g[i]:G6}, numeric {numeric:G6}");
            }
        }
        foreach (var t in inputs) { t.Grad?.Dispose(); t.Grad = null; }
    }

    public static Tensor Random(Backend backend, int seed, params int[] shape) => Random(backend, seed, -1f, 1f, shape);

    public static Tensor Random(Backend backend, int seed, float lo, float hi, params int[] shape)
    {
        var rng = new Random(seed);
        var data = new float[ShapeUtil.Numel(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = lo + (float)rng.NextDouble() * (hi - lo);
        return Tensor.FromArray(backend, data, shape);
    }

    /// <summary>Random values with |x| ≥ <paramref name="gap"/>, for ops with a kink at 0.</summary>
    public static Tensor RandomAwayFromZero(Backend backend, int seed, float gap, params int[] shape)
    {
        var rng = new Random(seed);
        var data = new float[ShapeUtil.Numel(shape)];
        for (int i = 0; i < data.Length; i++)
        {
            float v = gap + (float)rng.NextDouble() * (1f - gap);
            data[i] = rng.Next(2) == 0 ? v : -v;
        }
        return Tensor.FromArray(backend, data, shape);
    }
}
