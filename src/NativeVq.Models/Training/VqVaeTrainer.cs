using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Optim;

namespace NativeVq.Models.Training;

/// <summary>What `nativevq train vqvae` was asked to do.</summary>
public sealed record VqVaeTrainOptions
{
    public required string Out { get; init; }
    public int Epochs { get; init; } = 20;
    public int Batch { get; init; } = 32;
    public float Lr { get; init; } = 3e-4f;
    public ulong Seed { get; init; } = 1;
    public bool Resume { get; init; }
    /// <summary>Stop (with a checkpoint) once this many optimizer steps have run in total; 0 = no limit.</summary>
    public int MaxSteps { get; init; }
    /// <summary>Clip gradients to this global norm; 0 = off.</summary>
    public float ClipNorm { get; init; }
    /// <summary>Every this many steps, codes unused since the last check move onto random encodings (0 = off).</summary>
    public int RestartDeadCodesEvery { get; init; }
    /// <summary>--resume even when the options that shape training differ from the checkpoint's (recorded in metrics.jsonl).</summary>
    public bool AllowChangedOptions { get; init; }
    /// <summary>Images shown in the per-epoch reconstruction grid.</summary>
    public int GridImages { get; init; } = 8;
    /// <summary>How the training data was contaminated (`--contamination`), written to config.json's "contamination"; null = clean.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public JsonObject? Contamination { get; init; }
}

/// <summary>Per-epoch summary (also one line of metrics.jsonl).</summary>
public sealed record VqVaeEpochMetrics(int Epoch, int Step, double ReconLoss, double VqLoss, double Perplexity, int CodesUsed, double ImagesPerSecond, double Seconds);

/// <summary>
/// Trains a VQ-VAE: seeded batches, Adam, a checkpoint at every epoch end (model + optimizer + loader position,
/// so --resume continues exactly where it stopped), metrics.jsonl and an inputs-vs-reconstructions grid.
/// </summary>
public sealed class VqVaeTrainer(Backend backend, IImageDataset data, VqVaeConfig config, VqVaeTrainOptions options)
{
    public const string CheckpointName = "vqvae.nvq";
    public const string MetricsName = "metrics.jsonl";

    /// <summary>Per-batch and per-epoch progress (the CLI draws it as a bar); null = silent.</summary>
    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>One-line notices (resuming ...); null = silent.</summary>
    public Action<string>? Notice { get; init; }

    public List<VqVaeEpochMetrics> History { get; } = new();

    /// <summary>Steps between the host's reads of the losses and code counts kept on the device.</summary>
    public int StepReadInterval { get; init; } = DeviceStepLog.DefaultInterval;

    public VqVae Run()
    {
        if (data.Count == 0) throw new UserError("the training data holds no images");
        if (data.Channels != config.ImageChannels || data.Size != config.ImageSize)
            throw new UserError($"data is {data.Channels}x{data.Size}x{data.Size} but the model expects {config.ImageChannels}x{config.ImageSize}x{config.ImageSize}");
        if (options.Batch <= 0) throw new UserError($"--batch must be positive, got {options.Batch}");
        if (options.Epochs <= 0) throw new UserError($"--epochs must be positive, got {options.Epochs}");

        var run = new RunDirectory(options.Out, create: true);
        var model = new VqVae(backend, config, options.Seed);
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        using var adam = new Adam(model.Parameters(), options.Lr);
        var start = new LoaderPosition(0, 0);
        int step = 0;
        var restartRng = new Rng(options.Seed ^ 0xD1B54A32D192ED03UL);
        var sinceRestart = new long[config.CodebookSize];
        EpochSums? resumedSums = null;
        JsonObject? changed = null;

        string ckptPath = run.File(CheckpointName);
        if (options.Resume)
        {
            if (!run.Has(CheckpointName)) throw new UserError($"--resume: no checkpoint {ckptPath} to resume from");
            var ckpt = NvqFile.Read(ckptPath);
            ckpt.RequireKind("vqvae");
            if (ModelStore.ReadConfig<VqVaeConfig>(ckpt) != config) throw new UserError($"--resume: {ckptPath} was trained with another model configuration; drop --resume or use the same options");
            ckpt.LoadInto(model.StateDict(), strict: false);
            OptimizerState.Restore(adam, ckpt, names);
            if (ckpt.Training["restart_rng"] is JsonArray rs) restartRng.State = rs.Select(v => v!.GetValue<ulong>()).ToArray();
            if (ckpt.Training["since_restart"] is JsonArray sr) sinceRestart = sr.Select(v => v!.GetValue<long>()).ToArray();
            step = ckpt.Training["step"]!.GetValue<int>();
            var loader = ckpt.Training["loader"]!;
            start = new LoaderPosition(loader["epoch"]!.GetValue<int>(), loader["index"]!.GetValue<int>());
            changed = ResumeCheck.Enforce(ckptPath, ckpt.Training, TrainingOptions(), options.AllowChangedOptions, MetricsName, start.Epoch, step);
            if (start.Index > 0) resumedSums = EpochSums.From(ckpt.Training, config.CodebookSize);
            run.TruncateMetrics(MetricsName, start.Epoch);
            if (changed is not null) run.AppendJsonLine(MetricsName, changed);
            Notice?.Invoke($"resuming {ckptPath} at step {step} ({start})");
        }
        else if (run.Has(CheckpointName))
        {
            throw new UserError($"{ckptPath} already exists: pass --resume to continue it, or choose another --out");
        }
        else
        {
            run.Delete(MetricsName);   // left by a run that failed before its first checkpoint: start afresh
        }

        using var loaderIt = new BatchLoader(data, new BatchLoaderOptions { BatchSize = options.Batch, Seed = options.Seed, Shuffle = true, Cache = data.Count <= 50_000 }, start);
        var gridInput = GridBatch(Math.Min(options.GridImages, data.Count));

        // Losses and code counts stay on the device; the host reads them every DeviceStepLog.DefaultInterval steps and
        // before a checkpoint or a dead-code restart (a GPU step then copies only its batch in).
        using var stepLog = new DeviceStepLog(backend, 2, StepReadInterval, config.CodebookSize);
        for (int epoch = start.Epoch; epoch < options.Epochs; epoch++)
        {
            var stage = new ProgressStage(Progress, $"epoch {epoch + 1}/{options.Epochs}", loaderIt.BatchesPerEpoch);
            var sums = resumedSums ?? new EpochSums(new long[config.CodebookSize], 0, 0, 0, 0);
            resumedSums = null;
            var counts = sums.Counts;
            double recSum = sums.ReconSum, vqSum = sums.VqSum;
            int batches = sums.Batches;
            long images = sums.Images;
            int done = loaderIt.Position.Index / Math.Max(1, options.Batch);
            int firstPending = step;
            // Adds the pending steps to the running sums in step order; a non-finite loss stops the run there (the last
            // checkpoint, written only after such a read, is good).
            void ReadSteps()
            {
                var (values, seen) = stepLog.Read();
                for (int i = 0; i < values.Length; i += 2)
                {
                    float rec = values[i], vq = values[i + 1];
                    if (!float.IsFinite(rec) || !float.IsFinite(vq))
                        throw new UserError($"training diverged: the loss is {(float.IsNaN(rec + vq) ? "NaN" : "infinite")} at step {firstPending + i / 2 + 1} (epoch {epoch + 1}); " +
                            (File.Exists(ckptPath) ? $"the last good checkpoint {ckptPath} is kept" : "no checkpoint was written") + "; try a lower --lr");
                    recSum += rec; vqSum += vq; batches++;
                }
                for (int c = 0; c < seen.Length; c++) { counts[c] += seen[c]; sinceRestart[c] += seen[c]; }
            }
            foreach (var batch in loaderIt.EpochBatches())
            {
                using (batch)
                using (var scope = new TensorScope())
                {
                    var x = batch.ToTensor(backend);
                    var o = model.Forward(x);
                    o.Loss.Backward();
                    if (options.ClipNorm > 0) GradClip.ClipGlobalNorm(model.Parameters(), options.ClipNorm);
                    if (stepLog.Pending == 0) firstPending = step;
                    stepLog.Record([o.ReconLoss, o.VqLoss], o.Indices);
                    adam.Step();
                    adam.ZeroGrad();
                    if (config.Ema) model.Quantizer.UpdateEma(o.ZE, o.Indices);
                    if (options.RestartDeadCodesEvery > 0 && (step + 1) % options.RestartDeadCodesEvery == 0)
                    {
                        ReadSteps();
                        model.Quantizer.RestartDeadCodes(o.ZE, o.Indices, sinceRestart, restartRng);
                        Array.Clear(sinceRestart);
                    }
                    else if (stepLog.IsFull) ReadSteps();
                    images += batch.Count;
                }
                step++; done++;
                stage.Update(done, images, batches == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"recon {recSum / batches:F4} vq {vqSum / batches:F4} ppl {Perplexity(counts):F1}"));
                // At an epoch's last batch the epoch is finished first (metrics line, checkpoint), then the run stops.
                if (options.MaxSteps > 0 && step >= options.MaxSteps && done < loaderIt.BatchesPerEpoch)
                {
                    ReadSteps();
                    Save(run, model, adam, names, step, loaderIt.Position, restartRng, sinceRestart, new EpochSums(counts, recSum, vqSum, batches, images));
                    stage.Finish($"stopped at --max-steps {options.MaxSteps}");
                    return model;
                }
            }
            ReadSteps();
            var m = new VqVaeEpochMetrics(epoch + 1, step, recSum / Math.Max(1, batches), vqSum / Math.Max(1, batches), Perplexity(counts),
                counts.Count(c => c > 0), stage.ItemsPerSecond, stage.Seconds);
            stage.Finish(string.Create(CultureInfo.InvariantCulture, $"recon {m.ReconLoss:F4} vq {m.VqLoss:F4} ppl {m.Perplexity:F1} codes {m.CodesUsed}/{config.CodebookSize}"));
            History.Add(m);
            run.AppendJsonLine(MetricsName, (JsonObject)JsonSerializer.SerializeToNode(m, RunDirectory.Json)!);
            Save(run, model, adam, names, step, loaderIt.Position, restartRng, sinceRestart, null);
            if (gridInput is not null) WriteGrid(run, model, gridInput, epoch + 1);
            if (options.MaxSteps > 0 && step >= options.MaxSteps) return model;
        }
        return model;
    }

    /// <summary>exp(entropy) of the code histogram: how many codes are effectively in use.</summary>
    public static double Perplexity(long[] counts)
    {
        double total = counts.Sum();
        if (total == 0) return 0;
        double h = 0;
        foreach (var c in counts) if (c > 0) { double p = c / total; h -= p * Math.Log(p); }
        return Math.Exp(h);
    }

    /// <summary>The options that decide how training continues (compared on --resume).</summary>
    private JsonObject TrainingOptions() => new()
    {
        ["--batch"] = options.Batch,
        ["--lr"] = options.Lr,
        ["--seed"] = options.Seed,
        ["--clip-norm"] = options.ClipNorm,
        ["--restart-dead-codes"] = options.RestartDeadCodesEvery,
        ["images"] = data.Count,
    };

    /// <summary>Running sums of a partly done epoch, kept in a mid-epoch checkpoint so a resumed epoch reports the same means.</summary>
    private sealed record EpochSums(long[] Counts, double ReconSum, double VqSum, int Batches, long Images)
    {
        public JsonObject ToJson() => new()
        {
            ["recon_sum"] = ReconSum, ["vq_sum"] = VqSum, ["batches"] = Batches, ["images"] = Images,
            ["code_counts"] = new JsonArray(Counts.Select(c => (JsonNode)c).ToArray()),
        };

        public static EpochSums? From(JsonObject training, int codebookSize)
        {
            if (training["epoch_sums"] is not JsonObject j) return null;
            var counts = j["code_counts"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
            if (counts.Length != codebookSize) return null;
            return new EpochSums(counts, j["recon_sum"]!.GetValue<double>(), j["vq_sum"]!.GetValue<double>(), j["batches"]!.GetValue<int>(), j["images"]!.GetValue<long>());
        }
    }

    private bool _configWritten;

    private void Save(RunDirectory run, VqVae model, Adam adam, List<string> names, int step, LoaderPosition pos, Rng restartRng, long[] sinceRestart, EpochSums? sums)
    {
        if (!_configWritten)
        {
            // Written with the first checkpoint, not at the start: a run that fails before it leaves no lone config.json.
            TrainingRecord.WriteConfig(run, null, config, options, backend.Name, data.Count, options.Contamination);
            _configWritten = true;
        }
        var training = TrainingRecord.CheckpointHead(TrainingOptions(), step, pos, options.Seed);
        training["optimizer"] = OptimizerState.Describe(adam);
        training["restart_rng"] = TrainingRecord.RngState(restartRng);
        training["since_restart"] = new JsonArray(sinceRestart.Select(v => (JsonNode)v).ToArray());
        if (sums is not null) training["epoch_sums"] = sums.ToJson();
        NvqFile.Write(run.File(CheckpointName), "vqvae", (JsonObject)JsonSerializer.SerializeToNode(config, RunDirectory.Json)!,
            model.StateDict().Concat(OptimizerState.Tensors(adam, names)), training);
    }

    private float[]? GridBatch(int n)
    {
        if (n == 0) return null;
        int per = data.Channels * data.Size * data.Size;
        var buf = new float[n * per];
        for (int i = 0; i < n; i++) data.Load(i, buf.AsSpan(i * per, per));
        return buf;
    }

    private void WriteGrid(RunDirectory run, VqVae model, float[] inputs, int epoch)
    {
        int n = inputs.Length / (data.Channels * data.Size * data.Size);
        using var scope = new TensorScope();
        using var _ = Autograd.NoGrad();
        var x = Tensor.FromArray(backend, inputs, n, data.Channels, data.Size, data.Size);
        var rec = model.Forward(x).Reconstruction.ToArray();
        for (int i = 0; i < rec.Length; i++) rec[i] = Math.Clamp(rec[i], -1f, 1f);
        var grid = ImageGrid.Compare(inputs, rec, n, data.Channels, data.Size);
        ImageIO.SavePng(run.File(string.Create(CultureInfo.InvariantCulture, $"recon_epoch{epoch:D3}.png")), grid);
        ImageIO.SavePng(run.File("recon.png"), grid);
    }
}
