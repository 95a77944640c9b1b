using System.CommandLine;
using System.Text.Json.Nodes;
using NativeVq.Data;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>`nativevq encode`: images → code maps (an NVQ file holding int32 codes [N, h, w] and labels [N]).</summary>
internal static class EncodeCommand
{
    public static Command Create()
    {
        var data = new DataOptions();
        var model = Cli.Required<string>("--model", "Run folder holding vqvae.nvq.");
        var output = Cli.Required<string>("--out", "File to write (NVQ format, kind \"codes\": tensors codes [N,h,w] int32 and labels [N] int32).");
        var batch = new Option<int>("--batch") { Description = "Images per forward pass.", DefaultValueFactory = _ => 256 };
        var device = Cli.Device();
        var profile = Cli.Profile();
        var cmd = new Command("encode", "Encode images into VQ-VAE code maps (the prior's training data).");
        data.AddTo(cmd);
        foreach (var o in new Option[] { model, output, batch, device, profile }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(r.GetValue(profile), () =>
        {
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            var vq = ModelStore.LoadVqVae(r.GetValue(model)!, backend);
            var ds = data.Open(r);
            if (ds.Size != vq.Config.ImageSize || ds.Channels != vq.Config.ImageChannels)
                throw new UserError($"--data gives {ds.Channels}x{ds.Size}x{ds.Size} images but the model expects {vq.Config.ImageChannels}x{vq.Config.ImageSize}x{vq.Config.ImageSize} (set --size/--channels)");
            int lat = vq.Config.LatentSize, per = ds.Channels * ds.Size * ds.Size, bs = Math.Max(1, r.GetValue(batch));
            var codes = new int[ds.Count * lat * lat];
            var labels = new int[ds.Count];
            var bar = new ProgressBar("encode", (ds.Count + bs - 1) / bs);
            for (int s = 0, b = 0; s < ds.Count; s += bs, b++)
            {
                int n = Math.Min(bs, ds.Count - s);
                var buf = new float[n * per];
                for (int i = 0; i < n; i++) { ds.Load(s + i, buf.AsSpan(i * per, per)); labels[s + i] = ds.LabelOf(s + i); }
                using var scope = new TensorScope();
                vq.EncodeCodes(Tensor.FromArray(backend, buf, n, ds.Channels, ds.Size, ds.Size)).ToIntArray().CopyTo(codes, s * lat * lat);
                bar.Update(b + 1, s + n, "");
            }
            bar.Finish($"{ds.Count} images");
            using (var scope = new TensorScope())
            {
                var cpu = NativeVq.Cpu.CpuBackend.Instance;
                NvqFile.Write(r.GetValue(output)!, "codes",
                    new JsonObject { ["latent_size"] = lat, ["codebook_size"] = vq.Config.CodebookSize, ["source"] = r.GetValue(data.Data) },
                    [("codes", Tensor.FromArray(cpu, codes, ds.Count, lat, lat)), ("labels", Tensor.FromArray(cpu, labels, ds.Count))],
                    new JsonObject());
            }
            Console.Error.WriteLine($"codes written to {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}
