using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Optim;

namespace NativeVq.Models.Training;

/// <summary>What `nativevq train vae` was asked to do.</summary>
public sealed record VaeTrainOptions
{
    public required string Out { get; init; }
    public int Epochs { get; init; } = 20;
    public int Batch { get; init; } = 32;
    public float Lr { get; init; } = 1e-3f;
    public ulong Seed { get; init; } = 1;
    public bool Resume { get; init; }
    /// <summary>Stop (with a checkpoint) once this many optimizer steps have run in total; 0 = no limit.</summary>
    public int MaxSteps { get; init; }
    /// <summary>Clip gradients to this global norm; 0 = off.</summary>
    public float ClipNorm { get; init; }
    /// <summary>--resume even when the options that shape training differ from the checkpoint's.</summary>
    public bool AllowChangedOptions { get; init; }
    /// <summary>Images shown in the per-epoch reconstruction grid.</summary>
    public int GridImages { get; init; } = 8;
    /// <summary>How the training data was contaminated (`--contamination`), written to config.json's "contamination"; null = clean.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public JsonObject? Contamination { get; init; }
}

/// <summary>Per-epoch summary (also one line of metrics.jsonl).</summary>
public sealed record VaeEpochMetrics(int Epoch, int Step, double ReconLoss, double Kl, double Loss, double ImagesPerSecond, double Seconds);

/// <summary>
/// Trains a <see cref="Vae"/> with the conventions of <see cref="VqVaeTrainer"/>: seeded batches, Adam, an atomic
/// checksummed checkpoint at every epoch end (model, optimizer, loader position and the ε generator's state, so
/// --resume continues bit for bit), metrics.jsonl and an inputs-over-reconstructions grid per epoch.
/// </summary>
public sealed class VaeTrainer(Backend backend, IImageDataset data, VaeConfig config, VaeTrainOptions options)
{
    public const string CheckpointName = "vae.nvq";
    public const string Kind = "vae";
    public const string MetricsName = "metrics.jsonl";

    /// <summary>Per-batch and per-epoch progress (the CLI draws it as a bar); null = silent.</summary>
    public IProgress<TrainingProgress>? Progress { get; init; }

    /// <summary>One-line notices (resuming ...); null = silent.</summary>
    public Action<string>? Notice { get; init; }

    public List<VaeEpochMetrics> History { get; } = new();

    public Vae Run()
    {
        if (data.Count == 0) throw new UserError("the training data holds no images");
        if (data.Channels != config.ImageChannels || data.Size != config.ImageSize)
            throw new UserError($"data is {data.Channels}x{data.Size}x{data.Size} but the model expects {config.ImageChannels}x{config.ImageSize}x{config.ImageSize}");
        if (options.Batch <= 0) throw new UserError($"--batch must be positive, got {options.Batch}");
        if (options.Epochs <= 0) throw new UserError($"--epochs must be positive, got {options.Epochs}");

        var run = new RunDirectory(options.Out, create: true);
        var model = new Vae(backend, config, options.Seed);
        var names = model.NamedParameters().Select(p => p.Name).ToList();
        using var adam = new Adam(model.Parameters(), options.Lr);
        var start = new LoaderPosition(0, 0);
        int step = 0;
        var noise = new Rng(options.Seed ^ 0x5EEDE95110UL);
        Sums? resumed = null;

        string ckptPath = run.File(CheckpointName);
        if (options.Resume)
        {
            if (!run.Has(CheckpointName)) throw new UserError($"--resume: no checkpoint {ckptPath} to resume from");
            var ckpt = NvqFile.Read(ckptPath);
            ckpt.RequireKind(Kind);
            if (ModelStore.ReadConfig<VaeConfig>(ckpt) != config) throw new UserError($"--resume: {ckptPath} was trained with another model configuration; drop --resume or use the same options");
            ckpt.LoadInto(model.StateDict(), strict: false);
            OptimizerState.Restore(adam, ckpt, names);
            noise.State = ckpt.Training["noise_rng"]!.AsArray().Select(v => v!.GetValue<ulong>()).ToArray();
            step = ckpt.Training["step"]!.GetValue<int>();
            var loader = ckpt.Training["loader"]!;
            start = new LoaderPosition(loader["epoch"]!.GetValue<int>(), loader["index"]!.GetValue<int>());
            var changed = ResumeCheck.Enforce(ckptPath, ckpt.Training, TrainingOptions(), options.AllowChangedOptions, MetricsName, start.Epoch, step);
            if (start.Index > 0 && ckpt.Training["epoch_sums"] is JsonObject s) resumed = Sums.From(s);
            run.TruncateMetrics(MetricsName, start.Epoch);
            if (changed is not null) run.AppendJsonLine(MetricsName, changed);
            Notice?.Invoke($"resuming {ckptPath} at step {step} ({start})");
        }
        else if (run.Has(CheckpointName))
            throw new UserError($"{ckptPath} already exists: pass --resume to continue it, or choose another --out");
        else
            run.Delete(MetricsName);

        using var loaderIt = new BatchLoader(data, new BatchLoaderOptions { BatchSize = options.Batch, Seed = options.Seed, Shuffle = true, Cache = data.Count <= 50_000 }, start);
        var gridInput = GridBatch(Math.Min(options.GridImages, data.Count));

        for (int epoch = start.Epoch; epoch < options.Epochs; epoch++)
        {
            var stage = new ProgressStage(Progress, $"epoch {epoch + 1}/{options.Epochs}", loaderIt.BatchesPerEpoch);
            var sums = resumed ?? new Sums(0, 0, 0, 0);
            resumed = null;
            int done = loaderIt.Position.Index / Math.Max(1, options.Batch);
            foreach (var batch in loaderIt.EpochBatches())
            {
                using (batch)
                using (var scope = new TensorScope())
                {
                    var o = model.Forward(batch.ToTensor(backend), noise);
                    o.Loss.Backward();
                    if (options.ClipNorm > 0) GradClip.ClipGlobalNorm(model.Parameters(), options.ClipNorm);
                    float rec = o.ReconLoss.Item(), kl = o.Kl.Item();
                    if (!float.IsFinite(rec) || !float.IsFinite(kl))
                        throw new UserError($"training diverged: the loss is {(float.IsNaN(rec + kl) ? "NaN" : "infinite")} at step {step + 1} (epoch {epoch + 1}); " +
                            (File.Exists(ckptPath) ? $"the last good checkpoint {ckptPath} is kept" : "no checkpoint was written") + "; try a lower --lr");
                    adam.Step();
                    adam.ZeroGrad();
                    sums = new Sums(sums.Recon + rec, sums.Kl + kl, sums.Batches + 1, sums.Images + batch.Count);
                }
                step++; done++;
                stage.Update(done, sums.Images, string.Create(CultureInfo.InvariantCulture, $"recon {sums.Recon / sums.Batches:F2} kl {sums.Kl / sums.Batches:F2}"));
                if (options.MaxSteps > 0 && step >= options.MaxSteps && done < loaderIt.BatchesPerEpoch)
                {
                    Save(run, model, adam, names, step, loaderIt.Position, noise, sums);
                    stage.Finish($"stopped at --max-steps {options.MaxSteps}");
                    return model;
                }
            }
            int nb = Math.Max(1, sums.Batches);
            var m = new VaeEpochMetrics(epoch + 1, step, sums.Recon / nb, sums.Kl / nb, (sums.Recon + config.Beta * sums.Kl) / nb, stage.ItemsPerSecond, stage.Seconds);
            stage.Finish(string.Create(CultureInfo.InvariantCulture, $"recon {m.ReconLoss:F2} kl {m.Kl:F2}"));
            History.Add(m);
            run.AppendJsonLine(MetricsName, (JsonObject)JsonSerializer.SerializeToNode(m, RunDirectory.Json)!);
            Save(run, model, adam, names, step, loaderIt.Position, noise, null);
            if (gridInput is not null) WriteGrid(run, model, gridInput, epoch + 1);
            if (options.MaxSteps > 0 && step >= options.MaxSteps) return model;
        }
        return model;
    }

    /// <summary>The options that decide how training continues (compared on --resume).</summary>
    private JsonObject TrainingOptions() => new()
    {
        ["--batch"] = options.Batch,
        ["--lr"] = options.Lr,
        ["--seed"] = options.Seed,
        ["--clip-norm"] = options.ClipNorm,
        ["images"] = data.Count,
    };

    /// <summary>Running sums of a partly done epoch (kept in a mid-epoch checkpoint so a resumed epoch reports the same means).</summary>
    private sealed record Sums(double Recon, double Kl, int Batches, long Images)
    {
        public JsonObject ToJson() => new() { ["recon_sum"] = Recon, ["kl_sum"] = Kl, ["batches"] = Batches, ["images"] = Images };
        public static Sums From(JsonObject j) => new(j["recon_sum"]!.GetValue<double>(), j["kl_sum"]!.GetValue<double>(), j["batches"]!.GetValue<int>(), j["images"]!.GetValue<long>());
    }

    private bool _configWritten;

    private void Save(RunDirectory run, Vae model, Adam adam, List<string> names, int step, LoaderPosition pos, Rng noise, Sums? sums)
    {
        if (!_configWritten)
        {
            // Written with the first checkpoint: a run that fails before it leaves no lone config.json.
            TrainingRecord.WriteConfig(run, Kind, config, options, backend.Name, data.Count, options.Contamination);
            _configWritten = true;
        }
        var training = TrainingRecord.CheckpointHead(TrainingOptions(), step, pos, options.Seed);
        training["optimizer"] = OptimizerState.Describe(adam);
        training["noise_rng"] = TrainingRecord.RngState(noise);
        if (sums is not null) training["epoch_sums"] = sums.ToJson();
        NvqFile.Write(run.File(CheckpointName), Kind, (JsonObject)JsonSerializer.SerializeToNode(config, RunDirectory.Json)!,
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

    /// <summary>Inputs above their reconstructions from the posterior mean (what scoring uses).</summary>
    private void WriteGrid(RunDirectory run, Vae model, float[] inputs, int epoch)
    {
        int n = inputs.Length / (data.Channels * data.Size * data.Size);
        using var scope = new TensorScope();
        using var _ = Autograd.NoGrad();
        var x = Tensor.FromArray(backend, inputs, n, data.Channels, data.Size, data.Size);
        var rec = model.Decode(model.Encode(x).Mu).ToArray();
        for (int i = 0; i < rec.Length; i++) rec[i] = Math.Clamp(rec[i], -1f, 1f);
        var grid = ImageGrid.Compare(inputs, rec, n, data.Channels, data.Size);
        ImageIO.SavePng(run.File(string.Create(CultureInfo.InvariantCulture, $"recon_epoch{epoch:D3}.png")), grid);
        ImageIO.SavePng(run.File("recon.png"), grid);
    }
}
