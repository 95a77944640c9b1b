using NativeVq.Cpu;

namespace NativeVq.Models;

/// <summary>
/// Incremental (per-position) inference of a <see cref="PixelSnail"/> for several lanes, each with its own code
/// map: <see cref="Advance"/> evaluates every layer at raster position q alone — through each layer's own
/// <c>ForwardAt</c>, built from the same module objects as <see cref="PixelSnail.Logits"/> — reading cached
/// activations of earlier positions ("Fast Generation for Convolutional Autoregressive Models", 2017). The logits
/// at q are bitwise those of a full batch pass over the lane's map (see docs/models.md "Fast restoration").
/// <para>
/// Why it works: every activation at q depends only on codes at positions &lt; q, so a lane's code at q may be
/// set (drawn) after <see cref="Advance"/>(q) and before <see cref="Advance"/>(q + 1). A lane must be advanced
/// over consecutive positions from 0, or continue from a lane it was copied from (<see cref="CopyLane"/>).
/// Only the cpu backend's arithmetic is reproduced; eval mode (no dropout).
/// </para>
/// </summary>
public sealed class PixelSnailPositions
{
    private readonly PixelSnail _model;
    private readonly PositionStep _s;
    private readonly (PositionCache[] Res, AttentionCache? Attention)[] _caches;
    private readonly float[] _bg, _final;
    private readonly int _c, _k;
    /// <summary>The last <see cref="Advance"/> computed the last stage's output (<see cref="Logits"/> may be asked).</summary>
    private bool _hasOutput;

    public PixelSnailPositions(PixelSnail model, int lanes)
    {
        if (model.Backend is not CpuBackend) throw new ArgumentException("per-position inference reproduces the cpu backend only");
        if (lanes < 1) throw new ArgumentException($"per-position inference needs at least 1 lane, got {lanes}");
        model.PreparePositions();
        _model = model;
        var cfg = model.Config;
        int h = cfg.Height, w = cfg.Width, c = cfg.Channels;
        _c = c;
        _k = cfg.Codes;
        int maxO = Math.Max(cfg.Codes, Math.Max(4 * c + 4, Math.Max(cfg.KeyDim, cfg.ValueDim)));
        int wide = (Math.Max(maxO, 2 * c + 2) + 15) / 16 * 16;
        int maxK = Math.Max(Math.Max(model.DownAt.Kfull, model.DownRightAt.Kfull), Math.Max(c * cfg.KernelSize * cfg.KernelSize, wide));
        _s = new PositionStep(h, w, lanes, wide, maxK);
        _caches = model.Stages.Select(st => st.NewCaches(lanes, h, w, c)).ToArray();
        _bg = PixelSnail.BackgroundValues(1, h, w);
        _final = new float[lanes * wide];
        Codes = new int[lanes * h * w];
    }

    public int Lanes => _s.Lanes;

    /// <summary>The model this instance evaluates.</summary>
    public PixelSnail Model => _model;

    /// <summary>
    /// Makes the per-position weights current after the model's weights may have changed (the constructor does it):
    /// an instance kept for reuse calls it before its next walk. Lanes need no reset: every cached value is written
    /// at its position before any later position reads it.
    /// </summary>
    public void Refresh() => _model.PreparePositions();

    /// <summary>Cache bytes one lane holds: a ring of k rows per masked res block conv, the keys and values of every attention layer.</summary>
    public static long CacheBytesPerLane(PixelSnailConfig cfg)
    {
        long ring = cfg.KernelSize > 0 ? 2L * cfg.KernelSize * cfg.Width * cfg.Channels * cfg.ResBlocks : 0;
        long attention = cfg.Attention ? (long)cfg.Height * cfg.Width * (cfg.KeyDim + cfg.ValueDim) : 0;
        return 4 * cfg.Blocks * (ring + attention);
    }

    /// <summary>The code map of every lane, [lane, H·W]: set a lane's codes at positions &lt; q before <see cref="Advance"/>(q).</summary>
    public int[] Codes { get; }

    /// <summary>Lanes evaluated by the last <see cref="Advance"/>, in the order of the rows of <see cref="Logits"/>.</summary>
    public ReadOnlySpan<int> ActiveLanes => _s.Rows.AsSpan(0, _s.M);

    /// <summary>
    /// Evaluates every layer at position q for the listed lanes (ascending, no repeats). With
    /// <paramref name="logits"/> false the caller will not ask for <see cref="Logits"/> at q: the last stage's
    /// query, attention read-out and output res block are skipped there (nothing at a later position reads them —
    /// later positions read only the caches: ring rows and attention keys/values, which are still written).
    /// </summary>
    public void Advance(int q, ReadOnlySpan<int> lanes, bool logits = true)
    {
        var s = _s;
        if ((uint)q >= (uint)s.HW) throw new ArgumentOutOfRangeException(nameof(q));
        lanes.CopyTo(s.Rows);
        s.M = lanes.Length;
        s.Q = q;
        s.I = q / s.W;
        s.J = q % s.W;
        s.Bg0 = _bg[q];
        s.Bg1 = _bg[s.HW + q];
        StemAt();
        for (int i = 0; i < _caches.Length; i++) _model.Stages[i].ForwardAt(s, _caches[i], _c, output: logits || i < _caches.Length - 1);
        _hasOutput = logits;
        if (!logits) return;
        for (int r = 0; r < s.M; r++) s.Cur.AsSpan(r * s.Wide, _c).CopyTo(_final.AsSpan(r * s.Wide, _c));
    }

    /// <summary>
    /// Logits [row, K] at the position last advanced for its active lanes (row r = <see cref="ActiveLanes"/>[r]):
    /// out(ELU(h)) as one [rows, C]·[C, K] product.
    /// </summary>
    public void Logits(float[] logits)
    {
        if (!_hasOutput) throw new InvalidOperationException("Logits after Advance(q, lanes, logits: false): the last stage's output was not computed");
        var s = _s;
        s.EluRows(_final, _c);
        _model.OutAt.Apply(s.Ident.AsSpan(0, _c), s.Cols, _c, s.M, s.Y, s.Wide, s.Pack);
        for (int r = 0; r < s.M; r++) s.Y.AsSpan(r * s.Wide, _k).CopyTo(logits.AsSpan(r * _k, _k));
    }

    /// <summary>
    /// Makes lane <paramref name="to"/> continue from lane <paramref name="from"/>, which has been advanced over
    /// positions [0, <paramref name="positions"/>): copies its caches (its code map is the caller's to set).
    /// </summary>
    public void CopyLane(int from, int to, int positions)
    {
        foreach (var (res, attention) in _caches)
        {
            foreach (var r in res) r.CopyLane(from, to);
            attention?.CopyLane(from, to, positions);
        }
    }

    /// <summary>Stem at q: down_shift(down(x)) + right_shift(downright(x)) on the one-hot codes, per lane.</summary>
    private void StemAt()
    {
        var s = _s;
        int c = _c, wd = s.Wide;
        for (int r = 0; r < s.M; r++)
        {
            var cur = s.Cur.AsSpan(r * wd, c);
            var a = s.Hid.AsSpan(0, c);
            if (s.I >= 1) OneHotConvAt(_model.DownAt, s.I - 1, s.J, s.Rows[r], a); else a.Clear();
            var b = s.Y2.AsSpan(0, c);
            if (s.J >= 1) OneHotConvAt(_model.DownRightAt, s.I, s.J - 1, s.Rows[r], b); else b.Clear();
            for (int t = 0; t < c; t++) cur[t] = a[t] + b[t];
        }
    }

    /// <summary>Conv on a one-hot map at output (oi, oj) for one lane: terms k = (code·KH + u)·KW + v of value 1, k ascending.</summary>
    private void OneHotConvAt(PositionConv cv, int oi, int oj, int lane, Span<float> dst)
    {
        var s = _s;
        int cnt = 0;
        var ks = s.Ks;
        for (int u = 0; u < cv.KH; u++)
        {
            int ii = oi - cv.PadTop + u;
            if ((uint)ii >= (uint)s.H) continue;
            for (int v = 0; v < cv.KW; v++)
            {
                int jj = oj - cv.PadLeft + v;
                if ((uint)jj >= (uint)s.W || !cv.Tap[u * cv.KW + v]) continue;
                int k = (Codes[lane * s.HW + ii * s.W + jj] * cv.KH + u) * cv.KW + v;
                int p = cnt++;
                while (p > 0 && ks[p - 1] > k) { ks[p] = ks[p - 1]; p--; }
                ks[p] = k;
            }
        }
        s.Cols.AsSpan(0, cnt).Fill(1f);
        cv.Apply(ks.AsSpan(0, cnt), s.Cols, 0, 1, s.G, s.Wide, s.Pack);
        s.G.AsSpan(0, cv.O).CopyTo(dst);
    }
}
