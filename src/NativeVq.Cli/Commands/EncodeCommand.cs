using System.CommandLine;
using System.Text.Json.Nodes;
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
        cmd.SetAction(r => Cli.Run(r, r.GetValue(profile), () =>
        {
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            var vq = ModelStore.LoadVqVae(r.GetValue(model)!, backend);
            var maps = CodeMaps.Encode(vq, data.Open(r), backend, r.GetValue(batch), progress: new ConsoleProgress());
            maps.Save(r.GetValue(output)!, new JsonObject { ["latent_size"] = maps.Height, ["codebook_size"] = vq.Config.CodebookSize, ["source"] = r.GetValue(data.Data) });
            Console.Error.WriteLine($"codes written to {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}
