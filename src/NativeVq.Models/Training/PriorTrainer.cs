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
    /// <summary>--resume even when the options that shape training differ from the checkpoint's (recorded in prior_metrics.jsonl).</summary>
    public bool AllowChangedOptions { get; init; }
    /// <summary>The image decision threshold = this percentile of the held-out maps' sample scores.</summary>
    public double ThresholdPercentile { get; init; } = 95;
    /// <summary>AdamW's decoupled weight decay (0 = plain Adam).</summary>
    public float WeightDecay { get; init; }
    /// <summary>Stop when the held-out NLL has not improved for this many epochs (0 = run all epochs).</summary>
    public int Patience { get; init; }
    /// <summary>Keep the weights of the epoch with the lowest held-out NLL as the final prior (needs held-out maps).</summary>
    public bool KeepBest { get; init; }
    /// <summary>
    /// Versions of every training map in the training set, version-major: maps [k·n, (k+1)·n) are version k of the
    /// n training images (version 0 the original, the others augmented). An epoch shows each image once, in one
    /// version drawn per epoch, so augmentation adds variety without lengthening the epochs.
    /// </summary>
    public int Versions { get; init; } = 1;
}

public sealed record PriorEpochMetrics(int Epoch, int Step, double TrainNll, double TrainBits, double HeldOutNll, double HeldOutBits, double Lr, double Seconds, int BestEpoch);

/// <summary>
/// How the training ended: NLL per code (nats) of the final prior in evaluation mode on the original training
/// maps and on the held-out maps, the epoch whose weights were kept, and whether early stopping ended the run.
/// </summary>
public sealed record PriorTrainResult(double TrainNll, double HeldOutNll, int BestEpoch, int EpochsRun, bool StoppedEarly)
{
    /// <summary>Held-out NLL more than this share above the training NLL counts as memorised (issue 13: within 25 %).</summary>
    public const double MemorisationTolerance = 0.25;

    /// <summary>True when the held-out NLL is not within 25 % of the training NLL: the prior learned its maps by heart.</summary>
    public bool Memorised => IsMemorised(TrainNll, HeldOutNll);

    public static bool IsMemorised(double trainNll, double heldOutNll) =>
        double.IsFinite(heldOutNll) && double.IsFinite(trainNll) && Math.Abs(heldOutNll - trainNll) > MemorisationTolerance * trainNll;
}

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
    /// <summary>The weights of the best held-out epoch so far (while training; removed once prior.nvq holds them).</summary>
    public const string BestName = "prior_best.nvq";

    /// <summary>Per-batch and per-epoch progress (the CLI draws it as a bar); null = silent.</summary>
    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>One-line notices (resuming ..., the calibration λ and τ); null = silent.</summary>
    public Action<string>? Notice { get; init; }

    public List<PriorEpochMetrics> History { get; } = new();

    /// <summary>Steps between the host's reads of the loss kept on the device.</summary>
    public int StepReadInterval { get; init; } = DeviceStepLog.DefaultInterval;

    /// <summary>Set when <see cref="Run"/> trained to the end (not when it stopped at --max-steps).</summary>
    public PriorTrainResult? Result { get; private set; }

    /// <summary>Early-stopping state, saved in every checkpoint so --resume continues it.</summary>
    private double _bestNll = double.PositiveInfinity;
    private int _bestEpoch, _sinceBest;
    /// <summary>Sum and count of the batch losses of the epoch in progress (non-zero only in a mid-epoch checkpoint).</summary>
    private double _epochNllSum;
    private int _epochBatches;

    public PixelSnail Run()
    {
        if (train.Count == 0) throw new UserError("no code maps to train the prior on");
        if (options.Batch <= 0 || options.Epochs <= 0) throw new UserError("--batch and --epochs must be positive");
        if (options.Schedule is not ("none" or "cosine" or "step")) throw new UserError($"--schedule must be none, cosine or step, got '{options.Schedule}'");
        if (options.WeightDecay < 0) throw new UserError($"--weight-decay must be ≥ 0, got {options.WeightDecay}");
        if (options.Patience < 0) throw new UserError($"--patience must be ≥ 0, got {options.Patience}");
        if (options.Versions < 1 || train.Count % options.Versions != 0)
            throw new ArgumentException($"{train.Count} training maps are not {options.Versions} versions of the same images");
        var run = new RunDirectory(options.Out, create: true);
        var model = new PixelSnail(backend, config, options.Seed);
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        using var adam = new Adam(model.Parameters(), options.Lr) { DecoupledWeightDecay = options.WeightDecay };
        int images = train.Count / options.Versions;
        int batchesPerEpoch = (images + options.Batch - 1) / options.Batch;
        int totalSteps = batchesPerEpoch * options.Epochs;
        int step = 0;
        bool tracksBest = heldOut.Count > 0 && (options.KeepBest || options.Patience > 0);
        string ckptPath = run.File(CheckpointName);

        if (options.Resume)
        {
            if (!run.Has(CheckpointName)) throw new UserError($"--resume: no checkpoint {ckptPath} to resume from");
            var ckpt = NvqFile.Read(ckptPath);
            ckpt.RequireKind("pixelsnail");
            if (ckpt.Training["finished"]?.GetValue<bool>() == true)
                throw new UserError($"--resume: {ckptPath} is a finished prior (it holds the kept best weights, not the last optimizer state); train a new one instead");
            if (ModelStore.ReadConfig<PixelSnailConfig>(ckpt) != config)
                throw new UserError($"--resume: {ckptPath} was trained with another prior configuration");
            ckpt.LoadInto(model.StateDict(), strict: false);
            OptimizerState.Restore(adam, ckpt, names);
            step = ckpt.Training["step"]!.GetValue<int>();
            model.DropoutCounter = ckpt.Training["dropout_counter"]!.GetValue<ulong>();
            var changed = ResumeCheck.Enforce(ckptPath, ckpt.Training, TrainingOptions(), options.AllowChangedOptions, MetricsName, step / batchesPerEpoch, step);
            if (ckpt.Training["early_stopping"] is JsonObject es)
            {
                _bestNll = es["best_nll"]?.GetValue<double>() ?? double.PositiveInfinity;
                _bestEpoch = es["best_epoch"]!.GetValue<int>();
                _sinceBest = es["since_best"]!.GetValue<int>();
            }
            if (step % batchesPerEpoch != 0)
            {
                _epochNllSum = ckpt.Training["epoch_nll_sum"]?.GetValue<double>() ?? 0;
                _epochBatches = ckpt.Training["epoch_batches"]?.GetValue<int>() ?? 0;
            }
            if (_bestEpoch > 0 && !run.Has(BestName))
                throw new UserError($"--resume: {run.File(BestName)} (the best weights so far) is missing");
            run.TruncateMetrics(MetricsName, step / batchesPerEpoch);
            if (changed is not null) run.AppendJsonLine(MetricsName, changed);
            Notice?.Invoke($"resuming {ckptPath} at step {step}");
        }
        else if (run.Has(CheckpointName))
            throw new UserError($"{ckptPath} already exists: pass --resume to continue it, or delete it to start over");
        else
        {
            // Left by a run that failed before its first checkpoint: a fresh run starts fresh files.
            if (run.Has(BestName)) File.Delete(run.File(BestName));
            run.Delete(MetricsName);
            run.Delete(CalibrationName);
        }

        int epochsRun = step / batchesPerEpoch;
        bool stoppedEarly = false;
        // The loss stays on the device; the host reads it every DeviceStepLog.DefaultInterval steps and before a checkpoint.
        using var stepLog = new DeviceStepLog(backend, 1, StepReadInterval);
        for (int epoch = step / batchesPerEpoch; epoch < options.Epochs; epoch++)
        {
            var order = Enumerable.Range(0, images).ToArray();
            new Rng(options.Seed * 1_000_003UL + (ulong)epoch).Shuffle(order);
            if (options.Versions > 1)
            {
                // Each image in one version this epoch (its own stream: the shuffle stays the one without augmentation).
                var pick = new Rng(options.Seed * 7_919UL + (ulong)epoch + 0xA5A5UL);
                for (int i = 0; i < order.Length; i++) order[i] += pick.NextInt(options.Versions) * images;
            }
            var stage = new ProgressStage(Progress, $"prior epoch {epoch + 1}/{options.Epochs}", batchesPerEpoch);
            // A run resumed mid-epoch continues the epoch's running mean where the checkpoint left it.
            double nllSum = _epochNllSum;
            int batches = _epochBatches;
            _epochNllSum = 0; _epochBatches = 0;
            model.Train();
            int firstPending = step;
            // Adds the pending steps' losses to the running sum in step order; a non-finite one stops the run there (the
            // last checkpoint, written only after such a read, is good).
            void ReadSteps()
            {
                var (values, _) = stepLog.Read();
                for (int i = 0; i < values.Length; i++)
                {
                    if (!float.IsFinite(values[i]))
                        throw new UserError($"prior training diverged: the loss is not finite at step {firstPending + i + 1} (epoch {epoch + 1}); " +
                            (File.Exists(ckptPath) ? $"the last good checkpoint {ckptPath} is kept" : "no checkpoint was written") + "; try a lower --lr");
                    nllSum += values[i]; batches++;
                }
            }
            for (int b = step - epoch * batchesPerEpoch; b < batchesPerEpoch; b++)
            {
                adam.Lr = LearningRate(step, totalSteps);
                var idx = order.Skip(b * options.Batch).Take(options.Batch).ToArray();
                var maps = train.Take(idx);
                using (var scope = new TensorScope())
                {
                    var loss = model.Loss(Tensor.FromCodes(backend, maps.Codes, config.Codes, maps.Count, maps.Height, maps.Width));
                    loss.Backward();
                    if (stepLog.Pending == 0) firstPending = step;
                    stepLog.Record([loss]);
                    adam.Step();
                    adam.ZeroGrad();
                    if (stepLog.IsFull) ReadSteps();
                }
                step++;
                stage.Update(b + 1, (long)(b + 1) * options.Batch, batches == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"nll {nllSum / batches:F3} nats/code ({nllSum / batches / Math.Log(2):F3} bits)"));
                // At an epoch's last batch the epoch is finished first (metrics line, checkpoint), then the run stops.
                if (options.MaxSteps > 0 && step >= options.MaxSteps && b + 1 < batchesPerEpoch)
                {
                    ReadSteps();
                    _epochNllSum = nllSum; _epochBatches = batches;
                    Save(run, model, adam, names, step);
                    stage.Finish($"stopped at --max-steps {options.MaxSteps}");
                    return model;
                }
            }
            ReadSteps();
            double held = heldOut.Count > 0 ? MeanNll(model, heldOut) : double.NaN;
            if (tracksBest)
            {
                if (held < _bestNll)
                {
                    _bestNll = held; _bestEpoch = epoch + 1; _sinceBest = 0;
                    NvqFile.Write(run.File(BestName), "pixelsnail", ConfigJson(), model.StateDict(), new JsonObject { ["epoch"] = epoch + 1, ["held_out_nll"] = held });
                }
                else _sinceBest++;
            }
            var m = new PriorEpochMetrics(epoch + 1, step, nllSum / Math.Max(1, batches), nllSum / Math.Max(1, batches) / Math.Log(2), held, held / Math.Log(2), adam.Lr, stage.Seconds, _bestEpoch);
            stage.Finish(string.Create(CultureInfo.InvariantCulture, $"train {m.TrainNll:F3} nats/code, held-out {m.HeldOutNll:F3} nats/code ({m.HeldOutBits:F3} bits)"));
            History.Add(m);
            run.AppendJsonLine(MetricsName, (JsonObject)JsonSerializer.SerializeToNode(m, RunDirectory.Json)!);
            Save(run, model, adam, names, step);
            epochsRun = epoch + 1;
            if (options.MaxSteps > 0 && step >= options.MaxSteps && epoch + 1 < options.Epochs) return model;
            if (tracksBest && options.Patience > 0 && _sinceBest >= options.Patience) { stoppedEarly = true; break; }
        }
        if (tracksBest && options.KeepBest && _bestEpoch > 0 && _bestEpoch != epochsRun)
            NvqFile.Read(run.File(BestName)).LoadInto(model.StateDict(), strict: false);
        int kept = tracksBest && options.KeepBest && _bestEpoch > 0 ? _bestEpoch : epochsRun;
        model.Eval();
        Result = new PriorTrainResult(MeanNll(model, train.Take(Enumerable.Range(0, images).ToArray())),
            heldOut.Count > 0 ? MeanNll(model, heldOut) : double.NaN, kept, epochsRun, stoppedEarly);
        // When the kept weights are the last epoch's, prior.nvq stays the full checkpoint (--resume with more
        // --epochs extends it). Otherwise it holds the kept weights and is marked finished, so --resume cannot
        // continue them with the optimizer state of another epoch.
        if (kept != epochsRun)
            NvqFile.Write(ckptPath, "pixelsnail", ConfigJson(), model.StateDict(), new JsonObject
        {
            ["step"] = step,
            ["seed"] = options.Seed,
            ["finished"] = true,
            ["kept_epoch"] = kept,
            ["epochs_run"] = epochsRun,
            ["train_nll"] = Result.TrainNll,
            ["held_out_nll"] = double.IsFinite(Result.HeldOutNll) ? Result.HeldOutNll : null,
        });
        if (run.Has(BestName)) File.Delete(run.File(BestName));
        Calibrate(run, model);
        return model;
    }

    private JsonObject ConfigJson() => (JsonObject)JsonSerializer.SerializeToNode(config, RunDirectory.Json)!;

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
        Notice?.Invoke(string.Create(CultureInfo.InvariantCulture,
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

    /// <summary>The options that decide how training continues (compared on --resume); epochs matter only to a schedule.</summary>
    private JsonObject TrainingOptions()
    {
        var o = new JsonObject
        {
            ["--batch"] = options.Batch,
            ["--lr"] = options.Lr,
            ["--schedule"] = options.Schedule,
            ["--seed"] = options.Seed,
            ["--held-out"] = options.HeldOut,
            ["code maps"] = train.Count,
        };
        if (options.Schedule != "none") o["--epochs"] = options.Epochs;
        return o;
    }

    private void Save(RunDirectory run, PixelSnail model, Adam adam, List<string> names, int step)
    {
        var training = new JsonObject
        {
            [ResumeCheck.Key] = TrainingOptions(),
            ["step"] = step,
            ["seed"] = options.Seed,
            ["dropout_counter"] = model.DropoutCounter,
            ["optimizer"] = OptimizerState.Describe(adam),
            ["epoch_nll_sum"] = _epochNllSum,
            ["epoch_batches"] = _epochBatches,
            ["early_stopping"] = new JsonObject { ["best_nll"] = _bestEpoch > 0 ? _bestNll : null, ["best_epoch"] = _bestEpoch, ["since_best"] = _sinceBest },
        };
        NvqFile.Write(run.File(CheckpointName), "pixelsnail", ConfigJson(), model.StateDict().Concat(OptimizerState.Tensors(adam, names)), training);
    }
}
