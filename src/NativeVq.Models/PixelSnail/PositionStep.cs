using NativeVq.Cpu;

namespace NativeVq.Models;

/// <summary>
/// What the per-position methods of the prior's layers (<c>ForwardAt</c>) share while evaluating one position q
/// for a set of lanes: the position, the active lanes, and scratch. Scratch activations are row-major
/// [row, <see cref="Wide"/>] where row r is lane <see cref="Rows"/>[r], so a layer's work over the active lanes is
/// one [rows, K]·[K, O] product (<see cref="PositionConv.Apply"/>). One per <see cref="PixelSnailPositions"/>.
/// </summary>
internal sealed class PositionStep
{
    public readonly int H, W, HW, Lanes, Wide;
    /// <summary>Position q = I·W + J being evaluated, and the active lanes (ascending) as rows 0..M.</summary>
    public int Q, I, J, M;
    public readonly int[] Rows;
    /// <summary>The positional background bg[0/1] at q.</summary>
    public float Bg0, Bg1;
    public readonly float[] Cur, Inp, Cat, Hid, Y, Y2, Att, Qv, G, Sig, Cols, Row;
    /// <summary>The packed operand of <see cref="PositionConv.ApplyPacked"/> (tiles of 8 rows, term-major inside a tile).</summary>
    public readonly float[] Pack;
    public readonly int[] Ks, Ident;

    public PositionStep(int h, int w, int lanes, int wide, int maxK)
    {
        H = h; W = w; HW = h * w; Lanes = lanes; Wide = wide;
        Rows = new int[lanes];
        int padded = PositionConv.PaddedRows(lanes);   // products write whole 8-row tiles
        float[] Scratch() => new float[padded * wide];
        Cur = Scratch(); Inp = Scratch(); Cat = Scratch(); Hid = Scratch(); Y = Scratch(); Y2 = Scratch();
        Att = Scratch(); Qv = Scratch(); G = Scratch(); Sig = Scratch();
        Cols = new float[lanes * Math.Max(maxK, wide)];
        Pack = new float[padded * Math.Max(maxK, wide)];
        Ks = new int[maxK];
        Ident = Enumerable.Range(0, maxK).ToArray();
        Row = new float[HW];
    }

    /// <summary>cols[r·ch + c] = ELU(src[r·Wide + c]) for the active rows: the input of a 1×1 conv.</summary>
    public void EluRows(float[] src, int ch)
    {
        for (int r = 0; r < M; r++) CpuElementwise.Unary(UnaryOp.Elu, src.AsSpan(r * Wide, ch), Cols.AsSpan(r * ch, ch));
    }

    /// <summary>A 1×1 conv / linear layer on the active rows of src [row, Wide] (first cv.Cin channels) into outs.</summary>
    public void Apply1x1(PositionConv cv, float[] src, float[] outs)
    {
        cv.Apply(Ident.AsSpan(0, cv.Cin), src, Wide, M, outs, Wide, Pack);   // packed straight from the rows
    }

    /// <summary>x[r, c] = x + y[r, c]·σ(y[r, ch + c]) — GLU then the residual add, with the batch kernel's sigmoid path.</summary>
    public void GluAdd(float[] x, float[] y, int ch)
    {
        for (int r = 0; r < M; r++) y.AsSpan(r * Wide + ch, ch).CopyTo(Sig.AsSpan(r * ch, ch));
        int total = M * ch;
        VectorMath.Sigmoid(Sig.AsSpan(0, total), Sig.AsSpan(0, total));
        for (int r = 0; r < M; r++)
        {
            var xs = x.AsSpan(r * Wide, ch);
            var a = y.AsSpan(r * Wide, ch);
            var g = Sig.AsSpan(r * ch, ch);
            for (int t = 0; t < ch; t++) xs[t] = xs[t] + g[t] * a[t];
        }
    }
}
