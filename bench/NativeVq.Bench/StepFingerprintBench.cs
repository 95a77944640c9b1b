using System.Security.Cryptography;
using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Optim;

namespace NativeVq.Bench;

/// <summary>
/// SHA-256 of the state dict (parameters and buffers, and the last step's parameter gradients) after a few seeded VAE and GAN training steps
/// on cpu, at the benches' batch 64, 32x32. Not a speed figure: run it on two builds to show that a change which
/// should only remove passes or launches leaves every bit of training unchanged (docs/results.md, issue 10).
/// </summary>
public sealed class StepFingerprintBench : IBench
{
    public string Name => "step_fingerprint";

    public void Run(BenchContext ctx, JsonObject result)
    {
        result["vae"] = Vae();
        result["gan"] = Gan();
    }

    private static JsonObject Vae()
    {
        var backend = new CpuBackend();
        var model = new Vae(backend, new VaeConfig(), seed: 1);
        using var adam = new Adam(model.Parameters(), 1e-3f);
        var rng = new Rng(7);
        var noise = new Rng(8);
        var batch = Enumerable.Range(0, 64 * 32 * 32).Select(_ => rng.Uniform(-1, 1)).ToArray();
        float loss = 0;
        for (int step = 0; step < 4; step++)
        {
            using var scope = new TensorScope();
            var o = model.Forward(Tensor.FromArray(backend, batch, 64, 1, 32, 32), noise);
            loss = o.Loss.Item();
            o.Loss.Backward();
            if (step == 3) break;   // keep the last step's gradients to hash them
            adam.Step();
            adam.ZeroGrad();
        }
        return new JsonObject
        {
            ["last_loss"] = loss,
            ["state_sha256"] = Hash(model.StateDict().Select(p => p.Tensor.ToArray())),
            ["gradients_sha256"] = Hash(model.Parameters().Select(p => p.Grad!.ToArray())),
        };
    }

    private static JsonObject Gan()
    {
        var backend = new CpuBackend();
        var cfg = new GanConfig();
        var model = new Gan(backend, cfg, seed: 1);
        var adams = GanTrainer.CreateOptimizers(model, 2e-4f, 0.5f);
        var rng = new Rng(7);
        var x = Enumerable.Range(0, 64 * 32 * 32).Select(_ => rng.Uniform(-1, 1)).ToArray();
        var z = Enumerable.Range(0, 64 * cfg.LatentDim).Select(_ => rng.Normal()).ToArray();
        for (int step = 0; step < 2; step++)
        {
            using var scope = new TensorScope();
            GanTrainer.TrainStep(model, adams, Tensor.FromArray(backend, x, 64, 1, 32, 32), Tensor.FromArray(backend, z, 64, cfg.LatentDim), 0f);
        }
        var result = new JsonObject { ["state_sha256"] = Hash(model.StateDict().Select(p => p.Tensor.ToArray())) };
        foreach (var a in adams) a.Dispose();
        return result;
    }

    private static string Hash(IEnumerable<float[]> arrays)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var a in arrays) sha.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()));
        return Convert.ToHexString(sha.GetHashAndReset())[..16];
    }
}
