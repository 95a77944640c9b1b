using System.Text.Json.Nodes;
using NativeVq.Cpu;

namespace NativeVq.Bench;

/// <summary>
/// The VAE step's six Linear GEMMs (batch 64, latent 32, 1024 features; issue 10 round 7) on cpu, each timed in
/// rotated rounds in one process: the current entry point against the blocked path it had before the K split
/// (<c>CpuGemm.SgemmBlocked</c>), in parallel, as the work of their parts on one thread, and serial. 20 calls per
/// sample: the figures are ms per 20 calls. `--only small_linear`.
/// </summary>
public sealed class SmallLinearGemmBench : IBench
{
    public string Name => "small_linear";

    /// <summary>(name, spec) of the step's Linear GEMMs: F.Linear's forward (NT), input gradient (NN, β = 1), weight gradient (TN, β = 1).</summary>
    internal static readonly (string Name, GemmSpec Spec)[] Shapes =
    {
        ("heads_forward_64x32x1024_nt", new GemmSpec(false, true, 64, 32, 1024)),
        ("heads_weight_grad_32x1024x64_tn", new GemmSpec(true, false, 32, 1024, 64, Beta: 1f)),
        ("heads_input_grad_64x1024x32_nn", new GemmSpec(false, false, 64, 1024, 32, Beta: 1f)),
        ("decoder_forward_64x1024x32_nt", new GemmSpec(false, true, 64, 1024, 32)),
        ("decoder_weight_grad_1024x32x64_tn", new GemmSpec(true, false, 1024, 32, 64, Beta: 1f)),
        ("decoder_input_grad_64x32x1024_nn", new GemmSpec(false, false, 64, 32, 1024, Beta: 1f)),
    };

    private const int Calls = 20;

    public void Run(BenchContext ctx, JsonObject result)
    {
        // Warm the thread pool: the first parallel kernel of a process runs slow for a while.
        var warm = new float[64 * 1024];
        var spec0 = Shapes[0].Spec;
        ctx.MedianMs(() => CpuGemm.Sgemm(spec0, warm, warm, warm), minSeconds: 0.3, warmupSeconds: 0.2);
        foreach (var (name, s) in Shapes)
        {
            var rng = new Random(5);
            float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
            var a = R(s.M * s.K);
            var b = R(s.K * s.N);
            var c0 = R(s.M * s.N);
            var c = (float[])c0.Clone();
            // β = 1 calls accumulate into c on every call; reset it per sample so the values stay bounded.
            Action Many(Action one) => () => { c0.CopyTo(c, 0); for (int i = 0; i < Calls; i++) one(); };
            // Parallel variants are timed apart from the one-thread ones: a parallel call that follows a one-thread
            // call finds the pool's threads asleep, which cost the variant after the serial one 3-8 % in a shared rotation.
            var node = new JsonObject
            {
                ["parallel"] = InterleavedTimer.Run(ctx, s.Flops * Calls,
                    ("current", Many(() => CpuGemm.Sgemm(s, a, b, c))),
                    ("blocked", Many(() => CpuGemm.SgemmBlocked(s, a, b, c, parallel: true)))),
                // The parts of each decomposition one after another on one thread: the work the threads share, free of the
                // launch and of waiting for a core; and the serial loop.
                ["work"] = InterleavedTimer.Run(ctx, s.Flops * Calls,
                    ("current_parts_inline", Many(() => CpuGemm.SgemmPartsInline(s, a, b, c, kSplit: true))),
                    ("blocked_parts_inline", Many(() => CpuGemm.SgemmPartsInline(s, a, b, c, kSplit: false))),
                    ("serial", Many(() => CpuGemm.SgemmBlocked(s, a, b, c, parallel: false)))),
                ["plan"] = CpuGemm.PlanFor(s, parallel: true, kSplit: true, CpuParallel.Threads).ToString(),
            };
            node["same_bits_as_blocked"] = SameBits(s, a, b, c0);
            result[name] = node;
        }
    }

    /// <summary>Whether one call of each path from the same C gives the same bits.</summary>
    private static bool SameBits(GemmSpec s, float[] a, float[] b, float[] c0)
    {
        var x = (float[])c0.Clone();
        var y = (float[])c0.Clone();
        CpuGemm.Sgemm(s, a, b, x);
        CpuGemm.SgemmBlocked(s, a, b, y, parallel: true);
        return x.AsSpan().SequenceEqual(y);
    }
}
