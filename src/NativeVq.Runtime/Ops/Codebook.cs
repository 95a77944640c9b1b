namespace NativeVq;

/// <summary>
/// What <see cref="F.VectorQuantize"/> returns: the int32 codes [N, H, W], the straight-through latent
/// [N, D, H, W] to feed the decoder, and the scalar codebook + commitment loss. <see cref="Zq"/> is the quantised
/// latent itself (no gradient to z_e through it), for diagnostics.
/// </summary>
public sealed record VqResult(Tensor Indices, Tensor ZqSt, Tensor Loss)
{
    public required Tensor Zq { get; init; }
}

public static partial class F
{
    /// <summary>
    /// Nearest codebook row for every position of <paramref name="z"/> [N, D, H, W] (codebook [K, D]), as int32
    /// [N, H, W]. Squared L2, ties to the lowest index. Not differentiable (argmin).
    /// </summary>
    public static Tensor NearestCode(Tensor z, Tensor codebook)
    {
        var (n, d, hw, k) = VqDims("nearest_code", z, codebook);
        var idx = Tensor.Empty(z.Backend, DType.I32, VqCodeShape(z));
        z.Backend.NearestCode(z, codebook, idx, n, d, hw, k);
        return idx;
    }

    /// <summary>
    /// Embedding lookup laid out as a latent: out[n, c, h, w] = codebook[indices[n, h, w], c], shape [N, D, H, W].
    /// The gradient goes to the codebook rows that were used (summed over the positions using each).
    /// </summary>
    public static Tensor GatherCodes(Tensor codebook, Tensor indices)
    {
        RequireSameBackend("gather_codes", codebook, indices);
        ShapeUtil.RequireRank(codebook, 2, "gather_codes", "codebook");
        indices.RequireDType(DType.I32);
        if (indices.Rank < 1) throw new ArgumentException("gather_codes: indices need a batch dimension [N, ...]");
        int k = codebook.Dim(0), d = codebook.Dim(1), n = indices.Dim(0), hw = n == 0 ? 0 : indices.Numel / n;
        var shape = new int[indices.Rank + 1];
        shape[0] = n; shape[1] = d;
        for (int i = 1; i < indices.Rank; i++) shape[i + 1] = indices.Shape[i];
        var be = codebook.Backend;
        var y = Tensor.Empty(be, shape);
        be.GatherCodes(codebook, indices, y, n, d, hw, k);
        Autograd.Record("gather_codes", y, [codebook], g => be.GatherCodesBackward(g, indices, codebook.GradOrZeros(), n, d, hw, k));
        return y;
    }

    /// <summary>One-hot encoding of int32 codes [N, H, W] as float [N, K, H, W] (the PixelSNAIL input). Codes outside [0, K) throw.</summary>
    public static Tensor OneHot(Tensor indices, int k)
    {
        indices.RequireDType(DType.I32);
        if (indices.Rank < 1) throw new ArgumentException("one_hot: indices need a batch dimension [N, ...]");
        if (k <= 0) throw new ArgumentOutOfRangeException(nameof(k), "one_hot: K must be positive");
        int n = indices.Dim(0), hw = n == 0 ? 0 : indices.Numel / n;
        var shape = new int[indices.Rank + 1];
        shape[0] = n; shape[1] = k;
        for (int i = 1; i < indices.Rank; i++) shape[i + 1] = indices.Shape[i];
        var y = Tensor.Empty(indices.Backend, shape);
        indices.Backend.OneHot(indices, y, n, k, hw);
        return y;
    }

    /// <summary>
    /// The VQ-VAE quantiser (reference VectorQuantizer): codes = argmin, z_q = codebook[codes],
    /// z_q_st = z_e + (z_q − z_e).detach() (value z_q, gradient straight through to z_e, none to the codebook),
    /// loss = MSE(z_q, sg(z_e)) + β·MSE(z_e, sg(z_q)) — the codebook term trains the codebook, the commitment
    /// term (β) trains the encoder. Both terms have the same value; only the gradient routes differ.
    /// </summary>
    public static VqResult VectorQuantize(Tensor zE, Tensor codebook, float beta = 0.25f)
    {
        RequireSameBackend("vector_quantize", zE, codebook);
        var be = zE.Backend;
        var indices = NearestCode(zE, codebook);
        var zq = GatherCodes(codebook, indices);

        var codebookLoss = MseLoss(zq, zE.Detach());
        var commitment = MseLoss(zE, zq.Detach());
        var loss = Add(codebookLoss, Scale(commitment, beta));

        // Straight-through: forward z_e + (z_q − z_e) in float32 (z_q up to one rounding, as torch), backward identity to z_e.
        var diff = Tensor.Empty(be, zE.Shape);
        be.Binary(BinaryOp.Sub, zq, zE, diff);
        var zst = Tensor.Empty(be, zE.Shape);
        be.Binary(BinaryOp.Add, zE, diff, zst);
        Autograd.Record("straight_through", zst, [zE], g => Accumulate(zE, g));
        return new VqResult(indices, zst, loss) { Zq = zq };
    }

    private static (int N, int D, int HW, int K) VqDims(string op, Tensor z, Tensor codebook)
    {
        RequireSameBackend(op, z, codebook);
        ShapeUtil.RequireRank(codebook, 2, op, "codebook");
        if (z.Rank < 2 || z.Dim(1) != codebook.Dim(1))
            throw new ArgumentException($"{op}: latent {ShapeUtil.Format(z.Shape)} must be [N, D, ...] with D = codebook dim {codebook.Dim(1)}");
        if (codebook.Dim(0) == 0) throw new ArgumentException($"{op}: empty codebook");
        int n = z.Dim(0), d = z.Dim(1), hw = n * d == 0 ? 0 : z.Numel / (n * d);
        return (n, d, hw, codebook.Dim(0));
    }

    private static int[] VqCodeShape(Tensor z)
    {
        var s = new int[z.Rank - 1];
        s[0] = z.Dim(0);
        for (int i = 2; i < z.Rank; i++) s[i - 1] = z.Shape[i];
        return s;
    }
}
