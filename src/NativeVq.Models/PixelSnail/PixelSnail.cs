using NativeVq.Nn;

namespace NativeVq.Models;

/// <summary>
/// PixelSNAIL prior over the H×W grid of VQ codes (design.md §1.2), a one-to-one port of the peer's
/// <c>PixelSNAIL</c> (shared/peer/torch_vqvae_pixelsnail.py) with identical state-dict names (<c>bg</c>,
/// <c>down.conv.weight</c>, <c>stages.0.res.0.c1.mask</c>, …) so its weights load by name:
/// <code>
/// x = one_hot(codes)                       [N, K, H, W]
/// h = down_shift(down(x)) + right_shift(downright(x))     (strictly causal stem)
/// for each stage: h = stage(h, bg)        (masked gated res blocks + causal attention)
/// logits = out(ELU(h))                     [N, K, H, W]
/// </code>
/// Causality end to end: the logits at raster position p depend only on codes at positions &lt; p.
/// </summary>
public sealed class PixelSnail : Module
{
    private readonly List<PixelSnailStage> _stages = new();
    private readonly Dictionary<(int N, int H, int W), Tensor> _bgCache = new();
    private ulong _dropoutCalls;

    public PixelSnail(Backend backend, PixelSnailConfig config, ulong seed)
    {
        config.Validate();
        Config = config;
        Backend = backend;
        DropoutSeed = seed ^ 0xD1B54A32D192ED03UL;
        var rng = new Rng(seed);
        int k = config.Codes, ch = config.Channels, sk = config.StemKernelSize;

        // down: kernel [k/2, k], pad (k/2, k/2, k/2−1, 0), then down_shift → rows i−k/2..i−1 (peer [2,5], (2,2,1,0)).
        int dh = sk / 2;
        Down = RegisterModule("down", new MaskedConv(backend, rng, k, ch, dh, sk, (sk / 2, sk / 2, dh - 1, 0)));
        // downright: kernel [k/2+1, k/2], pad (k/2−1, 0, k/2, 0), then right_shift → rows i−k/2..i, cols j−k/2..j−1.
        int rh = sk / 2 + 1, rw = sk / 2;
        DownRight = RegisterModule("downright", new MaskedConv(backend, rng, k, ch, rh, rw, (rw - 1, 0, rh - 1, 0)));
        Background = RegisterBuffer("bg", TensorScope.Unscoped(() => Tensor.FromArray(backend, BackgroundValues(1, config.Height, config.Width), 1, 2, config.Height, config.Width)));
        var stages = RegisterModule("stages", new ModuleList());
        for (int s = 0; s < config.Blocks; s++) _stages.Add(stages.Add(new PixelSnailStage(backend, rng, config, NextDropoutSeed)));
        Out = RegisterModule("out", new Conv2d(backend, rng, ch, k, 1));
    }

    public PixelSnailConfig Config { get; }
    public Backend Backend { get; }
    public MaskedConv Down { get; }
    public MaskedConv DownRight { get; }
    public Conv2d Out { get; }
    /// <summary>The registered positional buffer [1, 2, H, W] for the configured grid (state-dict name <c>bg</c>).</summary>
    public Tensor Background { get; }

    /// <summary>Base of the dropout seeds; each dropout call uses a hash of (this, call counter).</summary>
    public ulong DropoutSeed { get; set; }

    /// <summary>Dropout calls so far (checkpoint it with the optimizer to resume a run bit for bit).</summary>
    public ulong DropoutCounter { get => _dropoutCalls; set => _dropoutCalls = value; }

    private ulong NextDropoutSeed()
    {
        ulong z = DropoutSeed + 0x9E3779B97F4A7C15UL * ++_dropoutCalls;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>bg[n, 0, i, j] = (i − H/2)/H, bg[n, 1, i, j] = (j − W/2)/W in float32, as the peer computes it.</summary>
    public static float[] BackgroundValues(int n, int h, int w)
    {
        var v = new float[n * 2 * h * w];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                {
                    v[((b * 2) * h + i) * w + j] = ((float)i - h / 2f) / h;
                    v[((b * 2 + 1) * h + i) * w + j] = ((float)j - w / 2f) / w;
                }
        return v;
    }

    /// <summary>The background expanded to [N, 2, H, W]: a constant, built once per shape and kept (not in any scope).</summary>
    private Tensor BackgroundFor(int n, int h, int w)
    {
        if (_bgCache.TryGetValue((n, h, w), out var t)) return t;
        if (_bgCache.Count >= 8)
        {
            foreach (var old in _bgCache.Values) old.Dispose();
            _bgCache.Clear();
        }
        t = TensorScope.Unscoped(() => Tensor.FromArray(Backend, BackgroundValues(n, h, w), n, 2, h, w));
        _bgCache[(n, h, w)] = t;
        return t;
    }

    /// <summary>
    /// codes int32 [N, H, W] → logits [N, K, H, W]. Any grid size works (the background is built for it).
    /// <paramref name="activations"/>, when given, receives the stem output and every stage output (diagnostics, golden tests).
    /// </summary>
    public Tensor Logits(Tensor codes, IList<Tensor>? activations = null)
    {
        codes.RequireDType(DType.I32);
        if (codes.Rank != 3) throw new ArgumentException($"pixelsnail: codes must be [N, H, W], got {ShapeUtil.Format(codes.Shape)}");
        int n = codes.Dim(0), h = codes.Dim(1), w = codes.Dim(2);
        var hs = Stem(F.OneHot(codes, Config.Codes));
        activations?.Add(hs);
        var bg = BackgroundFor(n, h, w);
        foreach (var s in _stages)
        {
            // Without a graph nothing inside a stage is needed once it returns: free its intermediates per stage
            // (scoring at 16x16 / 128 channels otherwise holds every stage's ~20 activations until the caller's scope ends).
            if (Autograd.IsEnabled || activations is not null) hs = s.Forward(hs, bg);
            else
            {
                using var scope = new TensorScope();
                hs = scope.Keep(s.Forward(hs, bg));
            }
            activations?.Add(hs);
        }
        return Out.Forward(F.Elu(hs));
    }

    /// <summary>
    /// The strictly causal input stem on one-hot (or any float) input x [N, K, H, W]:
    /// down_shift(down(x)) + right_shift(downright(x)) → [N, C, H, W]; output (i, j) reads only positions before it.
    /// </summary>
    public Tensor Stem(Tensor x) => F.Add(F.DownShift(Down.Forward(x)), F.RightShift(DownRight.Forward(x)));

    internal IReadOnlyList<PixelSnailStage> Stages => _stages;
    internal PositionConv DownAt { get; private set; } = null!;
    internal PositionConv DownRightAt { get; private set; } = null!;
    internal PositionConv OutAt { get; private set; } = null!;

    private readonly object _positionsLock = new();
    private float[][]? _positionsSnapshot;
    private float[] _positionsScratch = [];

    /// <summary>
    /// Makes the per-position weights (<see cref="PixelSnailPositions"/>) current: they are rebuilt from the layers'
    /// tensors only when a weight or buffer changed since the last call (a compare of the state dict with a snapshot,
    /// through one reused buffer: far cheaper than the rearrangement, and exact however the weights were changed).
    /// </summary>
    internal void PreparePositions()
    {
        lock (_positionsLock)
        {
            var tensors = StateDict().Select(t => t.Tensor).ToArray();
            var snap = _positionsSnapshot;
            bool same = snap is not null && snap.Length == tensors.Length;
            for (int i = 0; same && i < tensors.Length; i++)
            {
                var t = tensors[i];
                if (t.DType != DType.F32 || t.Numel != snap![i].Length) { same = false; break; }
                if (_positionsScratch.Length < t.Numel) _positionsScratch = new float[t.Numel];
                var cur = _positionsScratch.AsSpan(0, t.Numel);
                Backend.Download(t.Memory, cur);
                same = cur.SequenceEqual(snap[i]);
            }
            if (same) return;
            DownAt = Down.AtPositions();
            DownRightAt = DownRight.AtPositions();
            OutAt = PositionConv.From(Out.Weight, Out.Bias, null, 0, 0);
            foreach (var st in _stages) st.PreparePositions();
            _positionsSnapshot = tensors.Select(t => t.ToArray()).ToArray();
        }
    }

    /// <summary>Mean cross-entropy (nats per code) over all N·H·W positions — the training loss.</summary>
    public Tensor Loss(Tensor codes) => F.CrossEntropy(Logits(codes), codes);

    /// <summary>
    /// Per-code NLL in nats [N, H, W] for scoring: no graph, dropout off whatever the mode, intermediates freed
    /// before returning (the result belongs to the caller's scope).
    /// </summary>
    public Tensor NllMap(Tensor codes)
    {
        bool wasTraining = Training;
        if (wasTraining) Eval();
        try
        {
            using var noGrad = Autograd.NoGrad();
            using var scope = new TensorScope();
            return scope.Keep(SubBatches.Map(codes, c => F.CrossEntropyMap(Logits(c), c)));
        }
        finally
        {
            if (wasTraining) Train();
        }
    }
}
