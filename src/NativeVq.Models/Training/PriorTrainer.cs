using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Optim;

namespace NativeVq.Models.Training;

public sealed record PriorTrainOptions
{
    public required string Out { get; init; }
    public int Epochs { get; init; } = 30;
    public int Batch { get; init; } = 32;
    public float Lr { get; init; } = 3e-4f;
    /// <summary>none, cosine (to 0 over the run) or step (×0.1 at 50 % and 75 % of the steps).</summary>
    public string Schedule { get; init; } = "none";
    public ulong Seed { get; init; } = 1;
    public bool Resume { get; init; }
    public int MaxSteps { get; init; }
    /// <summary>Share of the code maps held out to measure NLL and calibrate thresholds.</summary>
    public float HeldOut { get; init; } = 0.1f;
    /// <summary>Percentile of held-out per-code NLLs used as the sample-score threshold λ (MOOD: ≈ 98).</summary>
    public double LambdaPercentile { get; init; } = 98;
    /// <summary>Percentile of held-out per-code NLLs used as the resampling threshold τ (MOOD: ≈ 90).</summary>
    public double TauPercentile { get; init; } = 90;
    /// <summary>The image decision threshold = this percentile of the held-out maps' sample scores.</summary>
    public double ThresholdPercentile { get; init; } = 95;
}

public sealed record PriorEpochMetrics(int Epoch, int Step, double TrainNll, double TrainBits, double HeldOutNll, double HeldOutBits, double Lr, double Seconds);

/// <summary>
/// Trains the PixelSNAIL prior on VQ-VAE code maps: seeded shuffles, Adam with an optional schedule, held-out NLL
/// each epoch, resumable checkpoints (prior.nvq), and at the end the calibration of the scoring thresholds
/// (calibration.json: λ and τ as percentiles of held-out per-code NLLs, design.md §1.3).
/// </summary>
public sealed class PriorTrainer(Backend backend, CodeMaps train, CodeMaps heldOut, PixelSnailConfig config, PriorTrainOptions options)
{
    public const string CheckpointName = "prior.nvq";
    public const string MetricsName = "prior_metrics.jsonl";
    public const string CalibrationName = "calibration.json";

    public List<PriorEpochMetrics> History { get; } = new();

    public PixelSnail Run()
    {
        if (train.Count == 0) throw new UserError("no code maps to train the prior on");
        if (options.Batch <= 0 || options.Epochs <= 0) throw new UserError("--batch and --epochs must be positive");
        if (options.Schedule is not ("none" or "cosine" or "step")) throw new UserError($"--schedule must be none, cosine or step, got '{options.Schedule}'");
        var run = new RunDirectory(options.Out, create: true);
        var model = new PixelSnail(backend, config, options.Seed);
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        using var adam = new Adam(model.Parameters(), options.Lr);
        int batchesPerEpoch = (train.Count + options.Batch - 1) / options.Batch;
        int totalSteps = batchesPerEpoch * options.Epochs;
        int step = 0;
        string ckptPath = run.File(CheckpointName);

        if (options.Resume)
        {
            if (!run.Has(CheckpointName)) throw new UserError($"--resume: no checkpoint {ckptPath} to resume from");
            var ckpt = NvqFile.Read(ckptPath);
            ckpt.RequireKind("pixelsnail");
            if (ModelStore.ReadConfig<PixelSnailConfig>(ckpt) != config)
                throw new UserError($"--resume: {ckptPath} was trained with another prior configuration");
            ckpt.LoadInto(model.StateDict(), strict: false);
            OptimizerState.Restore(adam, ckpt, names);
            step = ckpt.Training["step"]!.GetValue<int>();
            model.DropoutCounter = ckpt.Training["dropout_counter"]!.GetValue<ulong>();
            run.TruncateMetrics(MetricsName, step / batchesPerEpoch);
            Console.Error.WriteLine($"resuming {ckptPath} at step {step}");
        }
        else if (run.Has(CheckpointName))
            throw new UserError($"{ckptPath} already exists: pass --resume to continue it, or delete it to start over");

        for (int epoch = step / batchesPerEpoch; epoch < options.Epochs; epoch++)
        {
            var order = Enumerable.Range(0, train.Count).ToArray();
            new Rng(options.Seed * 1_000_003UL + (ulong)epoch).Shuffle(order);
            var bar = new ProgressBar($"prior epoch {epoch + 1}/{options.Epochs}", batchesPerEpoch);
            double nllSum = 0;
            int batches = 0;
            model.Train();
            for (int b = step - epoch * batchesPerEpoch; b < batchesPerEpoch; b++)
            {
                adam.Lr = LearningRate(step, totalSteps);
                var idx = order.Skip(b * options.Batch).Take(options.Batch).ToArray();
                var maps = train.Take(idx);
                float nll;
                using (var scope = new TensorScope())
                {
                    var loss = model.Loss(Tensor.FromArray(backend, maps.Codes, maps.Count, maps.Height, maps.Width));
                    loss.Backward();
                    nll = loss.Item();
                    if (!float.IsFinite(nll))
                        throw new UserError($"prior training diverged: the loss is not finite at step {step + 1} (epoch {epoch + 1}); " +
                            (File.Exists(ckptPath) ? $"the last good checkpoint {ckptPath} is kept" : "no checkpoint was written") + "; try a lower --lr");
                    adam.Step();
                    adam.ZeroGrad();
                }
                step++;
                nllSum += nll; batches++;
                bar.Update(b + 1, (long)(b + 1) * options.Batch, string.Create(CultureInfo.InvariantCulture, $"nll {nllSum / batches:F3} nats/code ({nllSum / batches / Math.Log(2):F3} bits)"));
                if (options.MaxSteps > 0 && step >= options.MaxSteps)
                {
                    Save(run, model, adam, names, step);
                    bar.Finish($"stopped at --max-steps {options.MaxSteps}");
                    return model;
                }
            }
            double held = heldOut.Count > 0 ? MeanNll(model, heldOut) : double.NaN;
            var m = new PriorEpochMetrics(epoch + 1, step, nllSum / Math.Max(1, batches), nllSum / Math.Max(1, batches) / Math.Log(2), held, held / Math.Log(2), adam.Lr, bar.Seconds);
            bar.Finish(string.Create(CultureInfo.InvariantCulture, $"train {m.TrainNll:F3} nats/code, held-out {m.HeldOutNll:F3} nats/code ({m.HeldOutBits:F3} bits)"));
            History.Add(m);
            run.AppendJsonLine(MetricsName, (JsonObject)JsonSerializer.SerializeToNode(m, RunDirectory.Json)!);
            Save(run, model, adam, names, step);
        }
        Calibrate(run, model);
        return model;
    }

    private float LearningRate(int step, int total) => options.Schedule switch
    {
        "cosine" => (float)(options.Lr * 0.5 * (1 + Math.Cos(Math.PI * step / Math.Max(1, total)))),
        "step" => options.Lr * (step >= 0.75 * total ? 0.01f : step >= 0.5 * total ? 0.1f : 1f),
        _ => options.Lr,
    };

    /// <summary>Per-code NLLs (nats) of every map, in map order: [Count · H · W].</summary>
    public static float[] NllPerCode(PixelSnail model, CodeMaps maps, Backend backend, int batch = 256)
    {
        var all = new float[maps.Codes.Length];
        for (int s = 0; s < maps.Count; s += batch)
        {
            int n = Math.Min(batch, maps.Count - s);
            using var scope = new TensorScope();
            var codes = Tensor.FromArray(backend, maps.Codes.AsSpan(s * maps.PerMap, n * maps.PerMap), n, maps.Height, maps.Width);
            model.NllMap(codes).ToArray().CopyTo(all, s * maps.PerMap);
        }
        return all;
    }

    private double MeanNll(PixelSnail model, CodeMaps maps) => NllPerCode(model, maps, backend).Average(v => (double)v);

    private void Calibrate(RunDirectory run, PixelSnail model)
    {
        var source = heldOut.Count > 0 ? heldOut : train;
        var perMap = NllPerCode(model, source, backend);
        var nll = (float[])perMap.Clone();
        Array.Sort(nll);
        double lambda = Percentile(nll, options.LambdaPercentile), tau = Percentile(nll, options.TauPercentile);
        // Sample scores of the held-out normal maps: the distribution the image threshold is read from.
        var scores = new float[source.Count];
        for (int i = 0; i < source.Count; i++)
        {
            double sc = 0;
            foreach (var v in perMap.AsSpan(i * source.PerMap, source.PerMap)) if (v > lambda) sc += v;
            scores[i] = (float)sc;
        }
        var sortedScores = (float[])scores.Clone();
        Array.Sort(sortedScores);
        run.WriteJson(CalibrationName, new JsonObject
        {
            ["source"] = heldOut.Count > 0 ? "held-out normal code maps" : "training code maps (no held-out split)",
            ["maps"] = source.Count,
            ["mean_nll"] = nll.Average(v => (double)v),
            ["lambda_percentile"] = options.LambdaPercentile,
            ["lambda"] = lambda,
            ["tau_percentile"] = options.TauPercentile,
            ["tau"] = tau,
            ["threshold_percentile"] = options.ThresholdPercentile,
            ["sample_score_threshold"] = Percentile(sortedScores, options.ThresholdPercentile),
            ["heldout_sample_scores"] = new JsonArray(scores.Select(v => (JsonNode)v).ToArray()),
        });
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"calibration: λ = {lambda:F3} nats (p{options.LambdaPercentile}), τ = {tau:F3} nats (p{options.TauPercentile}) from {source.Count} maps → {run.File(CalibrationName)}"));
    }

    /// <summary>Linear-interpolated percentile of sorted values (numpy's default).</summary>
    public static double Percentile(float[] sorted, double p)
    {
        if (sorted.Length == 0) return double.NaN;
        double pos = p / 100.0 * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    private void Save(RunDirectory run, PixelSnail model, Adam adam, List<string> names, int step)
    {
        var training = new JsonObject
        {
            ["step"] = step,
            ["seed"] = options.Seed,
            ["dropout_counter"] = model.DropoutCounter,
            ["optimizer"] = OptimizerState.Describe(adam),
        };
        NvqFile.Write(run.File(CheckpointName), "pixelsnail", (JsonObject)JsonSerializer.SerializeToNode(config, RunDirectory.Json)!,
            model.StateDict().Concat(OptimizerState.Tensors(adam, names)), training);
    }
}
