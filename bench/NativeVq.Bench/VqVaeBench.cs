using System.Text.Json.Nodes;
using NativeVq.Cpu;
using NativeVq.Models;
using NativeVq.Optim;

namespace NativeVq.Bench;

/// <summary>
/// The peer's VQ-VAE (277,217 parameters, 32x32 grayscale) on cpu: training steps/s at batch 32 (forward, backward,
/// Adam) and encode+decode images/s at batch 256, against the PyTorch figures of shared/peer/FIGURES.md
/// (OpenBLAS, 2 threads, same machine class). Also managed bytes and pool buffers allocated per steady step.
/// </summary>
public sealed class VqVaeBench : IBench
{
    public const double PeerTrainStepsPerSecond = 17.95;
    public const double PeerInferenceImagesPerSecond = 1915;

    public string Name => "vqvae";

    public void Run(BenchContext ctx, JsonObject result)
    {
        var backend = new CpuBackend();
        var model = new VqVae(backend, new VqVaeConfig(), seed: 1);
        using var adam = new Adam(model.Parameters(), 3e-4f);
        var rng = new Rng(7);
        var batch = Enumerable.Range(0, 32 * 32 * 32).Select(_ => rng.Uniform(-1, 1)).ToArray();
        var big = Enumerable.Range(0, 256 * 32 * 32).Select(_ => rng.Uniform(-1, 1)).ToArray();

        void TrainStep()
        {
            using var scope = new TensorScope();
            var o = model.Forward(Tensor.FromArray(backend, batch, 32, 1, 32, 32));
            o.Loss.Backward();
            adam.Step();
            adam.ZeroGrad();
        }

        void Inference()
        {
            using var scope = new TensorScope();
            using var _ = Autograd.NoGrad();
            model.DecodeCodes(model.EncodeCodes(Tensor.FromArray(backend, big, 256, 1, 32, 32)));
        }

        double trainMs = ctx.MedianMs(TrainStep, minSeconds: 4, warmupSeconds: 3);
        long poolBefore = backend.Pool.Allocations;
        long bytes = BenchContext.AllocatedBytes(TrainStep);
        long poolPerStep = backend.Pool.Allocations - poolBefore;
        double inferMs = ctx.MedianMs(Inference, minSeconds: 4, warmupSeconds: 3);
        double steps = 1000 / trainMs, ips = 256 * 1000 / inferMs;
        result["train_batch"] = 32;
        result["train_step_ms"] = BenchContext.Round(trainMs, 2);
        result["train_steps_per_s"] = BenchContext.Round(steps, 2);
        result["train_ratio_vs_pytorch"] = BenchContext.Round(steps / PeerTrainStepsPerSecond, 2);
        result["inference_batch"] = 256;
        result["encode_decode_images_per_s"] = BenchContext.Round(ips, 0);
        result["inference_ratio_vs_pytorch"] = BenchContext.Round(ips / PeerInferenceImagesPerSecond, 2);
        result["pytorch_train_steps_per_s"] = PeerTrainStepsPerSecond;
        result["pytorch_encode_decode_images_per_s"] = PeerInferenceImagesPerSecond;
        result["managed_bytes_allocated_per_step"] = bytes;
        result["pool_buffers_allocated_per_step"] = poolPerStep;
    }
}
