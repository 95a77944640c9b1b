using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NativeVq.Cpu;

/// <summary>
/// exp and the sigmoid in float32 vector lanes, for ELU, GLU, sigmoid and softmax.
/// <para>
/// Why not Vector512.Exp / TensorPrimitives.Exp: the BCL computes float exp through double lanes for
/// accuracy, about 0.6 ns per element here, which made ELU and GLU cost more than the 1x1 convs around them.
/// This is the Cephes expf scheme: n = round(x·log2 e), r = x − n·ln 2 in two FMAs (Cody–Waite), a degree-6
/// polynomial for e^r and 2^n put into the exponent bits. Relative error ≤ 2e-7 (a couple of ulp) over
/// [-87, 88]; inputs are clamped to that range (exp underflows to 2^-126, never to a denormal or NaN).
/// </para>
/// Every span function runs its tail through the same vector code on a padded copy, so an element's value never
/// depends on its position in the array (the cached restorer relies on batch and single-position results being
/// bit-identical).
/// </summary>
public static class VectorMath
{
    private const float Log2E = 1.44269504088896341f, Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f;
    private const float MaxX = 88.0f, MinX = -87.33654475f;
    private const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
        P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        x = Vector512.Min(Vector512.Max(x, Vector512.Create(MinX)), Vector512.Create(MaxX));
        var n = Vector512.Round(x * Vector512.Create(Log2E));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), r);
        var p = Vector512.Create(P0);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P5));
        p = Vector512.FusedMultiplyAdd(p, r * r, r + Vector512<float>.One);
        var scale = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        return p * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(MinX)), Vector256.Create(MaxX));
        var n = Vector256.Round(x * Vector256.Create(Log2E));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Hi), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.Create(P0);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P1));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P5));
        p = Vector256.FusedMultiplyAdd(p, r * r, r + Vector256<float>.One);
        var scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return p * scale;
    }

    /// <summary>The lane width every span function uses (1 = scalar MathF on machines without 256-bit vectors).</summary>
    internal static int Width => Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : 1;

    public enum Fn { Exp, Sigmoid, Elu }

    /// <summary>y = f(x) elementwise; x and y may be the same span.</summary>
    public static void Apply(Fn fn, ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("VectorMath: output shorter than input");
        int width = Width, body = x.Length - x.Length % width;
        Vectors(fn, x[..body], y[..body], width);
        if (body == x.Length) return;
        Span<float> tx = stackalloc float[16], ty = stackalloc float[16];
        tx.Clear();
        x[body..].CopyTo(tx);
        Vectors(fn, tx[..width], ty[..width], width);
        ty[..(x.Length - body)].CopyTo(y[body..]);
    }

    public static void Exp(ReadOnlySpan<float> x, Span<float> y) => Apply(Fn.Exp, x, y);
    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y) => Apply(Fn.Sigmoid, x, y);

    private static void Vectors(Fn fn, ReadOnlySpan<float> x, Span<float> y, int width)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        if (width == 16)
        {
            var one = Vector512<float>.One;
            for (int i = 0; i < x.Length; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref xr, (nuint)i);
                var r = fn switch
                {
                    Fn.Exp => Exp(v),
                    Fn.Sigmoid => one / (one + Exp(-v)),
                    _ => Vector512.ConditionalSelect(Vector512.GreaterThan(v, Vector512<float>.Zero), v, Exp(Vector512.Min(v, Vector512<float>.Zero)) - one),
                };
                r.StoreUnsafe(ref yr, (nuint)i);
            }
        }
        else if (width == 8)
        {
            var one = Vector256<float>.One;
            for (int i = 0; i < x.Length; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref xr, (nuint)i);
                var r = fn switch
                {
                    Fn.Exp => Exp(v),
                    Fn.Sigmoid => one / (one + Exp(-v)),
                    _ => Vector256.ConditionalSelect(Vector256.GreaterThan(v, Vector256<float>.Zero), v, Exp(Vector256.Min(v, Vector256<float>.Zero)) - one),
                };
                r.StoreUnsafe(ref yr, (nuint)i);
            }
        }
        else
        {
            for (int i = 0; i < x.Length; i++)
            {
                float v = x[i];
                y[i] = fn switch { Fn.Exp => MathF.Exp(v), Fn.Sigmoid => 1f / (1f + MathF.Exp(-v)), _ => v > 0f ? v : MathF.Exp(v) - 1f };
            }
        }
    }
}
