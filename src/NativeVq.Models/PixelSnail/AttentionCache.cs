using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using NativeVq.Cpu;

namespace NativeVq.Models;

/// <summary>
/// The key and value projections of one attention layer at every computed position, per lane: keys transposed
/// [lane, dk, H·W] (a query's scores over positions t are then contiguous FMAs over t), values [lane, H·W, dv].
/// <see cref="Attend"/> is the cpu attention kernel's arithmetic for one query row.
/// </summary>
internal sealed class AttentionCache
{
    private readonly int _hw, _dk, _dv;
    public readonly float[] KeysT, Values;

    public AttentionCache(int lanes, int hw, int dk, int dv)
    {
        _hw = hw; _dk = dk; _dv = dv;
        KeysT = new float[lanes * dk * hw];
        Values = new float[lanes * hw * dv];
    }

    /// <summary>Stores the projections k [dk] and v [dv] of lane at position q.</summary>
    public void Store(int lane, int q, ReadOnlySpan<float> k, ReadOnlySpan<float> v)
    {
        for (int d = 0; d < _dk; d++) KeysT[(lane * _dk + d) * _hw + q] = k[d];
        v[.._dv].CopyTo(Values.AsSpan((lane * _hw + q) * _dv, _dv));
    }

    /// <summary>Copies positions [0, positions) of lane <paramref name="from"/> to lane <paramref name="to"/>.</summary>
    public void CopyLane(int from, int to, int positions)
    {
        for (int d = 0; d < _dk; d++) Array.Copy(KeysT, (from * _dk + d) * _hw, KeysT, (to * _dk + d) * _hw, positions);
        Array.Copy(Values, from * _hw * _dv, Values, to * _hw * _dv, positions * _dv);
    }

    /// <summary>
    /// Causal attention of query qv [dk] of lane at position q over positions t &lt; len, head by head, into att [dv]:
    /// S[t] = Σ_d q[d]·k[d, t] (one FMA chain per t over d, KC blocks), the masked softmax row with the kernel's own
    /// calls on a row of the same length, out[e] = Σ_t v[t, e]·P[t] (one FMA chain per e over t, KC blocks).
    /// The chains are vectorised across t (scores) and e (outputs): each element's chain is unchanged.
    /// </summary>
    public void Attend(int lane, int len, int heads, ReadOnlySpan<float> qv, Span<float> att, float[] rowBuffer)
    {
        const int KC = PositionConv.KC;
        int dh = _dk / heads, dvh = _dv / heads, hw = _hw;
        float scale = 1f / MathF.Sqrt(dh);
        var row = rowBuffer.AsSpan(0, len);
        var keys = KeysT.AsSpan(lane * _dk * hw, _dk * hw);
        var values = Values.AsSpan(lane * hw * _dv, hw * _dv);
        for (int hd = 0; hd < heads; hd++)
        {
            int t = 0;
            for (; t + 16 <= len; t += 16)
            {
                Vector512<float> acc = default, res = default;
                for (int d = 0; d < dh; d++)
                {
                    if (d > 0 && d % KC == 0) { res += acc; acc = default; }
                    acc = Vector512.FusedMultiplyAdd(Vector512.Create(qv[hd * dh + d]), Vector512.Create(keys.Slice((hd * dh + d) * hw + t, 16)), acc);
                }
                (res + acc).CopyTo(row[t..]);
            }
            for (; t < len; t++)
            {
                float acc = 0f, res = 0f;
                for (int d = 0; d < dh; d++)
                {
                    if (d > 0 && d % KC == 0) { res += acc; acc = 0f; }
                    acc = MathF.FusedMultiplyAdd(qv[hd * dh + d], keys[(hd * dh + d) * hw + t], acc);
                }
                row[t] = res + acc;
            }
            if (len > 0)
            {
                // CpuSoftmax.MaskedSoftmaxRows, the same calls on the same row length.
                TensorPrimitives.Multiply(row, scale, row);
                float m = TensorPrimitives.Max(row);
                TensorPrimitives.Subtract(row, m, row);
                VectorMath.Exp(row, row);
                TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Sum(row), row);
            }
            int e = 0;
            ref float v0 = ref MemoryMarshal.GetReference(values);
            ref float p0 = ref MemoryMarshal.GetReference(row);
            for (; e + 128 <= dvh; e += 128)
            {
                // 8 independent chains: enough to cover the FMA latency at two FMAs per cycle.
                ref float ve = ref Unsafe.Add(ref v0, hd * dvh + e);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                Vector512<float> r0 = default, r1 = default, r2 = default, r3 = default, r4 = default, r5 = default, r6 = default, r7 = default;
                for (int tt = 0; tt < len; tt++)
                {
                    if (tt > 0 && tt % KC == 0)
                    {
                        r0 += a0; r1 += a1; r2 += a2; r3 += a3; r4 += a4; r5 += a5; r6 += a6; r7 += a7;
                        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = default;
                    }
                    var p = Vector512.Create(Unsafe.Add(ref p0, tt));
                    ref float vt = ref Unsafe.Add(ref ve, tt * _dv);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt), p, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 16), p, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 32), p, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 48), p, a3);
                    a4 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 64), p, a4);
                    a5 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 80), p, a5);
                    a6 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 96), p, a6);
                    a7 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 112), p, a7);
                }
                ref float d = ref MemoryMarshal.GetReference(att.Slice(hd * dvh + e, 128));
                (r0 + a0).StoreUnsafe(ref d); (r1 + a1).StoreUnsafe(ref d, 16);
                (r2 + a2).StoreUnsafe(ref d, 32); (r3 + a3).StoreUnsafe(ref d, 48);
                (r4 + a4).StoreUnsafe(ref d, 64); (r5 + a5).StoreUnsafe(ref d, 80);
                (r6 + a6).StoreUnsafe(ref d, 96); (r7 + a7).StoreUnsafe(ref d, 112);
            }
            for (; e + 64 <= dvh; e += 64)
            {
                ref float ve = ref Unsafe.Add(ref v0, hd * dvh + e);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                Vector512<float> r0 = default, r1 = default, r2 = default, r3 = default;
                for (int tt = 0; tt < len; tt++)
                {
                    if (tt > 0 && tt % KC == 0) { r0 += a0; r1 += a1; r2 += a2; r3 += a3; a0 = a1 = a2 = a3 = default; }
                    var p = Vector512.Create(Unsafe.Add(ref p0, tt));
                    ref float vt = ref Unsafe.Add(ref ve, tt * _dv);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt), p, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 16), p, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 32), p, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vt, 48), p, a3);
                }
                int at = hd * dvh + e;
                (r0 + a0).CopyTo(att[at..]);
                (r1 + a1).CopyTo(att[(at + 16)..]);
                (r2 + a2).CopyTo(att[(at + 32)..]);
                (r3 + a3).CopyTo(att[(at + 48)..]);
            }
            for (; e + 16 <= dvh; e += 16)
            {
                int ve = hd * dvh + e;
                Vector512<float> acc = default, res = default;
                for (int tt = 0; tt < len; tt++)
                {
                    if (tt > 0 && tt % KC == 0) { res += acc; acc = default; }
                    acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v0, (nuint)(tt * _dv + ve)), Vector512.Create(Unsafe.Add(ref p0, tt)), acc);
                }
                (res + acc).CopyTo(att[ve..]);
            }
            for (; e < dvh; e++)
            {
                int ve = hd * dvh + e;
                float acc = 0f, res = 0f;
                for (int tt = 0; tt < len; tt++)
                {
                    if (tt > 0 && tt % KC == 0) { res += acc; acc = 0f; }
                    acc = MathF.FusedMultiplyAdd(values[tt * _dv + ve], row[tt], acc);
                }
                att[ve] = res + acc;
            }
        }
    }
}
