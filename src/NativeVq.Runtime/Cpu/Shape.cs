using System.Numerics.Tensors;

namespace NativeVq.Cpu;

/// <summary>
/// Shape kernels on spans (CPU twins of kernels/NativeVq.Kernels/ShapeKernels.cs). Both are row copies:
/// every output row is one contiguous source span (copied or added with TensorPrimitives) plus zero fill,
/// parallel over rows in fixed chunks. No reductions, so results do not depend on the chunking.
/// </summary>
public static class CpuShape
{
    private const int GrainElements = 16 * 1024;

    /// <summary>
    /// y[p,i,j] (+)= x[p,i−offY,j−offX] over planes p = n·C + c; x planes are h×w, y planes hOut×wOut.
    /// Rows of y whose source row is outside x are zeroed (or skipped when accumulating); within a row only
    /// the column range [j0, j1) has a source.
    /// </summary>
    public static void Translate2d(float[] x, float[] y, int planes, int h, int w, int hOut, int wOut, int offY, int offX, bool accumulate)
    {
        int rows = planes * hOut;
        if (rows == 0 || wOut == 0) return;
        int j0 = Math.Clamp(offX, 0, wOut), j1 = Math.Clamp(w + offX, j0, wOut);
        int grain = Math.Max(1, GrainElements / wOut);
        void Body(int s, int e)
        {
            for (int r = s; r < e; r++)
            {
                int p = r / hOut, i = r - p * hOut, si = i - offY;
                var yRow = y.AsSpan(r * wOut, wOut);
                if ((uint)si >= (uint)h || j1 <= j0)
                {
                    if (!accumulate) yRow.Clear();
                    continue;
                }
                var src = x.AsSpan((p * h + si) * w + (j0 - offX), j1 - j0);
                var dst = yRow.Slice(j0, j1 - j0);
                if (accumulate) TensorPrimitives.Add(dst, src, dst);
                else
                {
                    src.CopyTo(dst);
                    yRow.Slice(0, j0).Clear();
                    yRow.Slice(j1).Clear();
                }
            }
        }
        if ((long)rows * wOut < 2 * GrainElements) Body(0, rows);
        else CpuParallel.For(rows, grain, Body);
    }

    /// <summary>dst[b, dstStart+k, :] (+)= src[b, srcStart+k, :] for k &lt; count: per batch one contiguous block.</summary>
    public static void CopyChannels(float[] src, float[] dst, int n, int cs, int cd, int hw, int srcStart, int dstStart, int count, bool accumulate)
    {
        int block = count * hw;
        if (block == 0 || n == 0) return;
        // Split each batch's block into pieces so a single large batch still runs in parallel.
        int pieces = Math.Max(1, Math.Min(block / GrainElements, CpuParallel.Threads));
        void Body(int s, int e)
        {
            for (int t = s; t < e; t++)
            {
                int b = t / pieces, q = t - b * pieces;
                int lo = (int)((long)block * q / pieces), hi = (int)((long)block * (q + 1) / pieces);
                var from = src.AsSpan((b * cs + srcStart) * hw + lo, hi - lo);
                var to = dst.AsSpan((b * cd + dstStart) * hw + lo, hi - lo);
                if (accumulate) TensorPrimitives.Add(to, from, to);
                else from.CopyTo(to);
            }
        }
        int tasks = n * pieces;
        if ((long)n * block < 2 * GrainElements) Body(0, tasks);
        else CpuParallel.For(tasks, Math.Max(1, GrainElements / Math.Max(1, block / pieces)), Body);
    }
}

public sealed partial class CpuBackend
{
    protected override void Translate2dCore(Tensor x, Tensor y, int offY, int offX, bool accumulate)
        => CpuShape.Translate2d(Array(x), Array(y), x.Dim(0) * x.Dim(1), x.Dim(2), x.Dim(3), y.Dim(2), y.Dim(3), offY, offX, accumulate);

    protected override void CopyChannelsCore(Tensor src, Tensor dst, int srcStart, int dstStart, int count, bool accumulate, int n, int cs, int cd, int hw)
        => CpuShape.CopyChannels(Array(src), Array(dst), n, cs, cd, hw, srcStart, dstStart, count, accumulate);
}
