using NativeVq.Data;
using StbImageWriteSharp;

namespace NativeVq.Anomaly.Report;

/// <summary>In-memory PNG encoding (ImageIO only writes files) for data URIs in the self-contained report.</summary>
public static class PngData
{
    /// <summary>PNG bytes of a float CHW image in [-1, 1] (1 or 3 channels), with the same rounding as <see cref="ImageIO.SavePng(string, ImageF)"/>.</summary>
    public static byte[] Encode(ImageF image)
    {
        int n = image.Height * image.Width, c = image.Channels;
        var bytes = new byte[n * c];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < n; i++)
            {
                float v = (image.Data[ch * n + i] + 1f) * 127.5f;
                bytes[i * c + ch] = float.IsNaN(v) ? (byte)0 : (byte)Math.Clamp(MathF.Round(v), 0f, 255f);
            }
        using var ms = new MemoryStream();
        new ImageWriter().WritePng(bytes, image.Width, image.Height, c == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue, ms);
        return ms.ToArray();
    }

    /// <summary>"data:image/png;base64,..." of the image.</summary>
    public static string DataUri(ImageF image) => "data:image/png;base64," + Convert.ToBase64String(Encode(image));
}
