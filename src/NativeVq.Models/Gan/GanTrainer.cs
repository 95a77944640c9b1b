using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Models.Training;
using NativeVq.Nn;
using NativeVq.Optim;

namespace NativeVq.Models;

/// <summary>What `nativevq train gan` was asked to do.</summary>
public sealed record GanTrainOptions
{
    public required string Out { get; init; }
    public int Epochs { get; init; } = 20;
    public int Batch { get; init; } = 64;
    /// <summary>Adam learning rate of all three networks (DCGAN: 2e-4, β1 0.5).</summary>
    public float Lr { get; init; } = 2e-4f;
    public float Beta1 { get; init; } = 0.5f;
    public ulong Seed { get; init; } = 1;
    public bool Resume { get; init; }
    /// <summary>Stop (with a checkpoint) once this many steps have run in total; 0 = no limit.</summary>
    public int MaxSteps { get; init; }
    /// <summary>λ of the encoder's optional ‖G(E(x)) − x‖₁ term (0 = off: the encoder learns from ‖E(G(z)) − z‖² alone).</summary>
    public float ReconWeight { get; init; }
    /// <summary>--resume even when the options that shape training differ from the checkpoint's (recorded in metrics.jsonl).</summary>
    public bool AllowChangedOptions { get; init; }
    /// <summary>Samples G(fixed z) in the per-epoch grid (8 per row).</summary>
    public int GridImages { get; init; } = 64;
    /// <summary>How the training data was contaminated (`--contamination`), written to config.json's "contamination"; null = clean.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public JsonObject? Contamination { get; init; }
}

/// <summary>Mean losses of an epoch (one line of metrics.jsonl). DReal / DFake: mean σ(D(·)) on real and generated images.</summary>
public sealed record GanEpochMetrics(int Epoch, int Step, double DLoss, double GLoss, double ELoss, double ReconLoss, double DReal, double DFake,
    double ImagesPerSecond, double Seconds);

/// <summary>Losses of one step; DReal / DFake: mean σ(D(·)) on the real and generated batch.</summary>
public sealed record GanStepLosses(float D, float G, float E, float Recon, double DReal, double DFake);

/// <summary>Progress of a run: after every step (<see cref="EpochDone"/> false) and at each epoch end (true, with the epoch's means).</summary>
public sealed record GanProgress(int Epoch, int Epochs, int BatchInEpoch, int BatchesPerEpoch, int Step, long Images, GanEpochMetrics Means, bool EpochDone);

/// <summary>
/// Trains G, D and E together from the first step (the contaminated-data paper): per batch, D on real vs G(z)
/// (BCE with logits), G non-saturating (BCE of D(G(z)) against "real"), E on mean (E(G(z)) − z)² (+ λ·mean |G(E(x)) − x|
/// with <see cref="GanTrainOptions.ReconWeight"/>, which updates E only). Each loss updates only its own network:
/// the others' parameters are frozen for that backward, so no weight gradient is computed for them.
/// A checkpoint at every epoch end (model, BatchNorm running statistics, the three Adam states, the z stream and the
/// loader position) lets --resume continue bit-identically; metrics.jsonl and samples_epochNNN.png per epoch.
/// </summary>
public sealed class GanTrainer(Backend backend, IImageDataset data, GanConfig config, GanTrainOptions options)
{
    public const string CheckpointName = "gan.nvq";
    public const string MetricsName = "metrics.jsonl";
    public const string Kind = "gan";
    private const ulong ZStream = 0x9E3779B97F4A7C15UL, FixedZStream = 0xC2B2AE3D27D4EB4FUL;

    public List<GanEpochMetrics> History { get; } = new();

    /// <summary>Per-step and per-epoch progress (the CLI draws a bar from it); null = silent.</summary>
    public IProgress<GanProgress>? Progress { get; init; }

    /// <summary>One-line remarks (resuming, changed options); null = silent.</summary>
    public Action<string>? Notice { get; init; }

    public Gan Run()
    {
        if (data.Count == 0) throw new UserError("the training data holds no images");
        config.Validate();
        if (data.Channels != config.ImageChannels || data.Size != config.ImageSize)
            throw new UserError($"data is {data.Channels}x{data.Size}x{data.Size} but the model expects {config.ImageChannels}x{config.ImageSize}x{config.ImageSize}");
        if (options.Batch < 2) throw new UserError($"--batch must be at least 2 (BatchNorm needs a batch), got {options.Batch}");
        if (options.Epochs <= 0) throw new UserError($"--epochs must be positive, got {options.Epochs}");
        if (!(options.Lr > 0f) || !float.IsFinite(options.Lr)) throw new UserError($"--lr must be positive, got {options.Lr}");
        if (!(options.ReconWeight >= 0f) || !float.IsFinite(options.ReconWeight)) throw new UserError($"--recon-weight must be ≥ 0, got {options.ReconWeight}");

        var run = new RunDirectory(options.Out, create: true);
        var model = new Gan(backend, config, options.Seed);
        var nets = new Module[] { model.G, model.D, model.E };
        var names = nets.Select(n => model.NamedParameters().Where(p => Owns(n, p.Tensor)).Select(p => p.Name).ToList()).ToArray();
        var adams = CreateOptimizers(model, options.Lr, options.Beta1);
        try
        {
            var start = new LoaderPosition(0, 0);
            int step = 0;
            var zRng = new Rng(options.Seed ^ ZStream);
            Sums? resumed = null;
            string ckptPath = run.File(CheckpointName);
            if (options.Resume)
            {
                if (!run.Has(CheckpointName)) throw new UserError($"--resume: no checkpoint {ckptPath} to resume from");
                var ckpt = NvqFile.Read(ckptPath);
                ckpt.RequireKind(Kind);
                if (ModelStore.ReadConfig<GanConfig>(ckpt) != config) throw new UserError($"--resume: {ckptPath} was trained with another model configuration; drop --resume or use the same options");
                GanRun.LoadWeights(ckpt, model);
                for (int i = 0; i < 3; i++) OptimizerState.Restore(adams[i], ckpt, names[i], OptimizerKeys[i]);
                zRng.State = ckpt.Training["z_rng"]!.AsArray().Select(v => v!.GetValue<ulong>()).ToArray();
                step = ckpt.Training["step"]!.GetValue<int>();
                var loader = ckpt.Training["loader"]!;
                start = new LoaderPosition(loader["epoch"]!.GetValue<int>(), loader["index"]!.GetValue<int>());
                var changed = ResumeCheck.Enforce(ckptPath, ckpt.Training, TrainingOptions(), options.AllowChangedOptions, MetricsName, start.Epoch, step);
                if (start.Index > 0) resumed = Sums.From(ckpt.Training);
                run.TruncateMetrics(MetricsName, start.Epoch);
                if (changed is not null) run.AppendJsonLine(MetricsName, changed);
                Notice?.Invoke($"resuming {ckptPath} at step {step} ({start})");
            }
            else if (run.Has(CheckpointName))
                throw new UserError($"{ckptPath} already exists: pass --resume to continue it, or choose another --out");
            else
                run.Delete(MetricsName);   // left by a run that failed before its first checkpoint: start afresh

            var loaderOptions = new BatchLoaderOptions { BatchSize = options.Batch, Seed = options.Seed, Shuffle = true, Cache = data.Count <= 50_000, DropLast = data.Count >= options.Batch };
            using var loaderIt = new BatchLoader(data, loaderOptions, start);
            var fixedZ = FixedLatents(Math.Max(1, options.GridImages));

            for (int epoch = start.Epoch; epoch < options.Epochs; epoch++)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var sums = resumed ?? new Sums();
                resumed = null;
                int done = loaderIt.Position.Index / options.Batch;
                long imagesAtStart = sums.Images;
                foreach (var batch in loaderIt.EpochBatches())
                {
                    using (batch)
                        Step(model, adams, batch, zRng, sums, step, epoch);
                    step++; done++;
                    Progress?.Report(new GanProgress(epoch + 1, options.Epochs, done, loaderIt.BatchesPerEpoch, step, sums.Images,
                        sums.Means(epoch + 1, step, (sums.Images - imagesAtStart) / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed.TotalSeconds), false));
                    // At an epoch's last batch the epoch is finished first (metrics line, checkpoint), then the run stops.
                    if (options.MaxSteps > 0 && step >= options.MaxSteps && done < loaderIt.BatchesPerEpoch)
                    {
                        Save(run, model, adams, names, step, loaderIt.Position, zRng, sums);
                        return model;
                    }
                }
                var m = sums.Means(epoch + 1, step, (sums.Images - imagesAtStart) / Math.Max(1e-9, clock.Elapsed.TotalSeconds), clock.Elapsed.TotalSeconds);
                History.Add(m);
                run.AppendJsonLine(MetricsName, (JsonObject)JsonSerializer.SerializeToNode(m, RunDirectory.Json)!);
                Save(run, model, adams, names, step, loaderIt.Position, zRng, null);
                WriteSamples(run, model, fixedZ, epoch + 1);
                Progress?.Report(new GanProgress(epoch + 1, options.Epochs, done, loaderIt.BatchesPerEpoch, step, sums.Images, m, true));
                if (options.MaxSteps > 0 && step >= options.MaxSteps) return model;
            }
            return model;
        }
        finally
        {
            foreach (var a in adams) a.Dispose();
        }
    }

    /// <summary>One Adam per network, in the order G, D, E.</summary>
    public static Adam[] CreateOptimizers(Gan model, float lr, float beta1) =>
        new Module[] { model.G, model.D, model.E }.Select(n => new Adam(n.Parameters(), lr, beta1, 0.999f)).ToArray();

    private static readonly string[] OptimizerKeys = ["optimizer_g", "optimizer_d", "optimizer_e"];

    private static bool Owns(Module net, Tensor p) => net.Parameters().Any(q => ReferenceEquals(q, p));

    /// <summary>One step of all three networks on one batch of real images (draws the batch's z from the run's stream).</summary>
    private void Step(Gan model, Adam[] adams, Batch batch, Rng zRng, Sums sums, int step, int epoch)
    {
        using var scope = new TensorScope();
        var zv = new float[batch.Count * config.LatentDim];
        for (int i = 0; i < zv.Length; i++) zv[i] = zRng.Normal();
        var l = TrainStep(model, adams, batch.ToTensor(backend), Tensor.FromArray(backend, zv, batch.Count, config.LatentDim), options.ReconWeight);
        if (!float.IsFinite(l.D) || !float.IsFinite(l.G) || !float.IsFinite(l.E))
            throw new UserError($"training diverged: a loss is not finite at step {step + 1} (epoch {epoch + 1}; D {l.D}, G {l.G}, E {l.E}); " +
                (File.Exists(Path.Combine(options.Out, CheckpointName)) ? $"the last good checkpoint in {options.Out} is kept" : "no checkpoint was written") + "; try a lower --lr");
        sums.Add(l.D, l.G, l.E, l.Recon, l.DReal, l.DFake, batch.Count);
    }

    /// <summary>
    /// One training step of G, D and E (adams in that order) on real images x [B, C, S, S] and latents z [B, Z]; the
    /// caller owns the tensor scope. Public so the bench times exactly what training runs.
    /// </summary>
    public static GanStepLosses TrainStep(Gan model, Adam[] adams, Tensor x, Tensor z, float reconWeight)
    {
        var backend = x.Backend;
        int b = x.Dim(0);
        var real = Tensor.Full(backend, 1f, b, 1);
        var fakeLabel = Tensor.Zeros(backend, b, 1);

        // D: real → 1, G(z) → 0. G's graph is kept for its own step below; D sees a detached copy.
        Trainable(model, g: true, d: true, e: false);
        var fake = model.G.Forward(z);
        var dReal = model.D.Forward(x);
        var dFake = model.D.Forward(fake.Detach());
        var lossD = F.Add(F.BceWithLogits(dReal, real), F.BceWithLogits(dFake, fakeLabel));
        lossD.Backward();
        adams[1].Step();

        // G, non-saturating: D (just updated, frozen) should call G(z) real.
        Trainable(model, g: true, d: false, e: false);
        var lossG = F.BceWithLogits(model.D.Forward(fake), real);
        lossG.Backward();
        adams[0].Step();

        // E: invert G on its samples, optionally also reconstruct the real batch through G (frozen).
        Trainable(model, g: false, d: false, e: true);
        var lossE = F.MseLoss(model.E.Forward(fake.Detach()), z);
        Tensor? recon = null;
        if (reconWeight > 0f)
        {
            recon = F.L1Loss(model.G.Forward(model.E.Forward(x)), x);
            lossE = F.Add(lossE, F.Scale(recon, reconWeight));
        }
        lossE.Backward();
        adams[2].Step();
        Trainable(model, g: true, d: true, e: true);
        foreach (var a in adams) a.ZeroGrad();
        return new GanStepLosses(lossD.Item(), lossG.Item(), lossE.Item(), recon?.Item() ?? 0f, MeanSigmoid(dReal), MeanSigmoid(dFake));
    }

    private static void Trainable(Gan model, bool g, bool d, bool e)
    {
        foreach (var p in model.G.Parameters()) p.RequiresGrad = g;
        foreach (var p in model.D.Parameters()) p.RequiresGrad = d;
        foreach (var p in model.E.Parameters()) p.RequiresGrad = e;
    }

    private static double MeanSigmoid(Tensor logits) => logits.ToArray().Average(v => 1.0 / (1.0 + Math.Exp(-v)));

    /// <summary>The options that decide how training continues (compared on --resume).</summary>
    private JsonObject TrainingOptions() => new()
    {
        ["--batch"] = options.Batch,
        ["--lr"] = options.Lr,
        ["--beta1"] = options.Beta1,
        ["--seed"] = options.Seed,
        ["--recon-weight"] = options.ReconWeight,
        ["images"] = data.Count,
    };

    /// <summary>Running sums of an epoch, kept in a mid-epoch checkpoint so a resumed epoch reports the same means.</summary>
    private sealed class Sums
    {
        public double D, G, E, Recon, DReal, DFake;
        public int Batches;
        public long Images;

        public void Add(double d, double g, double e, double recon, double dReal, double dFake, int images)
        {
            D += d; G += g; E += e; Recon += recon; DReal += dReal; DFake += dFake; Batches++; Images += images;
        }

        public GanEpochMetrics Means(int epoch, int step, double imagesPerSecond, double seconds)
        {
            double n = Math.Max(1, Batches);
            return new GanEpochMetrics(epoch, step, D / n, G / n, E / n, Recon / n, DReal / n, DFake / n, imagesPerSecond, seconds);
        }

        public JsonObject ToJson() => new()
        {
            ["d"] = D, ["g"] = G, ["e"] = E, ["recon"] = Recon, ["d_real"] = DReal, ["d_fake"] = DFake, ["batches"] = Batches, ["images"] = Images,
        };

        public static Sums? From(JsonObject training)
        {
            if (training["epoch_sums"] is not JsonObject j) return null;
            return new Sums
            {
                D = j["d"]!.GetValue<double>(), G = j["g"]!.GetValue<double>(), E = j["e"]!.GetValue<double>(), Recon = j["recon"]!.GetValue<double>(),
                DReal = j["d_real"]!.GetValue<double>(), DFake = j["d_fake"]!.GetValue<double>(),
                Batches = j["batches"]!.GetValue<int>(), Images = j["images"]!.GetValue<long>(),
            };
        }
    }

    private bool _configWritten;

    private void Save(RunDirectory run, Gan model, Adam[] adams, List<string>[] names, int step, LoaderPosition pos, Rng zRng, Sums? sums)
    {
        if (!_configWritten)
        {
            // Written with the first checkpoint: a run that fails before it leaves no lone config.json.
            TrainingRecord.WriteConfig(run, Kind, config, options, backend.Name, data.Count, options.Contamination);
            _configWritten = true;
        }
        var training = TrainingRecord.CheckpointHead(TrainingOptions(), step, pos, options.Seed);
        training["z_rng"] = TrainingRecord.RngState(zRng);
        for (int i = 0; i < 3; i++) training[OptimizerKeys[i]] = OptimizerState.Describe(adams[i]);
        if (sums is not null) training["epoch_sums"] = sums.ToJson();
        var tensors = model.StateDict().AsEnumerable();
        for (int i = 0; i < 3; i++) tensors = tensors.Concat(OptimizerState.Tensors(adams[i], names[i]));
        NvqFile.Write(run.File(CheckpointName), Kind, (JsonObject)JsonSerializer.SerializeToNode(config, RunDirectory.Json)!, tensors, training);
    }

    /// <summary>The grid's latents: drawn once from the seed, the same every epoch (and after --resume).</summary>
    private float[] FixedLatents(int n)
    {
        var rng = new Rng(options.Seed ^ FixedZStream);
        var z = new float[n * config.LatentDim];
        for (int i = 0; i < z.Length; i++) z[i] = rng.Normal();
        return z;
    }

    /// <summary>samples_epochNNN.png and samples.png: G(fixed z) in eval mode (running statistics, as scoring uses it), 8 per row.</summary>
    private void WriteSamples(RunDirectory run, Gan model, float[] fixedZ, int epoch)
    {
        int n = fixedZ.Length / config.LatentDim, c = config.ImageChannels, s = config.ImageSize;
        float[] images;
        model.Eval();
        try
        {
            using var scope = new TensorScope();
            using var _ = Autograd.NoGrad();
            images = model.G.Forward(Tensor.FromArray(backend, fixedZ, n, config.LatentDim)).ToArray();
        }
        finally { model.Train(); }
        var tiles = Enumerable.Range(0, n).Select(i => ImageF.FromBatch(images, i, c, s, s)).ToList();
        var grid = ImageGrid.Tile(tiles, Math.Min(8, n));
        ImageIO.SavePng(run.File(string.Create(CultureInfo.InvariantCulture, $"samples_epoch{epoch:D3}.png")), grid);
        ImageIO.SavePng(run.File("samples.png"), grid);
    }
}
