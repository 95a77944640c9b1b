using System.CommandLine;
using NativeVq.Data;
using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>`nativevq reconstruct`: one image through encoder, quantizer and decoder.</summary>
internal static class ReconstructCommand
{
    public static Command Create()
    {
        var model = Cli.Required<string>("--model", "Run folder holding vqvae.nvq.");
        var input = Cli.Required<string>("--input", "Image to reconstruct (PNG, JPEG or BMP); resized/cropped to the model's size.");
        var output = Cli.Required<string>("--out", "PNG to write: the input (as the model sees it) beside its reconstruction.");
        var device = Cli.Device();
        var cmd = new Command("reconstruct", "Reconstruct an image with a trained VQ-VAE.");
        foreach (var o in new Option[] { model, input, output, device }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(r, false, () =>
        {
            var backend = Cli.OpenDevice(r.GetValue(device)!);
            var vq = ModelStore.LoadVqVae(r.GetValue(model)!, backend);
            int c = vq.Config.ImageChannels, s = vq.Config.ImageSize;
            var img = new float[c * s * s];
            var note = ImageIO.LoadInto(r.GetValue(input)!, img, new ImageLoadOptions { Channels = c, Size = s });
            if (note is not null) Console.Error.WriteLine($"note: {note}");
            using var scope = new TensorScope();
            using var _ = Autograd.NoGrad();
            var rec = vq.Forward(Tensor.FromArray(backend, img, 1, c, s, s)).Reconstruction.ToArray();
            for (int i = 0; i < rec.Length; i++) rec[i] = Math.Clamp(rec[i], -1f, 1f);
            ImageIO.SavePng(r.GetValue(output)!, ImageGrid.Compose([[ImageF.FromBatch(img, 0, c, s, s), ImageF.FromBatch(rec, 0, c, s, s)]]));
            Console.Error.WriteLine($"reconstruction written to {r.GetValue(output)} (left: input, right: reconstruction)");
            return 0;
        }));
        return cmd;
    }
}
