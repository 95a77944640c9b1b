using NativeVq.Data;

namespace NativeVq.Anomaly;

/// <summary>Images already decoded and shaped like the model's input, as a dataset the scorer reads.</summary>
internal sealed class DecodedImages : IImageDataset
{
    private readonly IReadOnlyList<ImageF> _images;
    private readonly IReadOnlyList<string> _names;

    public DecodedImages(IReadOnlyList<ImageF> images, IReadOnlyList<string>? names, int channels, int size)
    {
        if (names is not null && names.Count != images.Count)
            throw new ArgumentException($"{names.Count} names for {images.Count} images");
        _names = names ?? Enumerable.Range(0, images.Count).Select(i => $"image {i}").ToArray();
        for (int i = 0; i < images.Count; i++)
        {
            var im = images[i] ?? throw new ArgumentNullException(nameof(images), $"{_names[i]} is null");
            if (im.Channels != channels || im.Height != size || im.Width != size)
                throw new UserError($"{_names[i]}: image is {im.Channels}x{im.Height}x{im.Width}, the model expects {channels}x{size}x{size} " +
                    "(AnomalyModel.LoadImage / DecodeImage resize to it)");
        }
        _images = images;
        Channels = channels;
        Size = size;
    }

    public int Count => _images.Count;
    public int Channels { get; }
    public int Size { get; }
    public void Load(int index, Span<float> chw) => _images[index].Data.CopyTo(chw);
    public string NameOf(int index) => _names[index];
    public int LabelOf(int index) => -1;
}

/// <summary>Image files named by path (any mix of folders), decoded when scored; the name is the path as given.</summary>
internal sealed class ImagePaths(IReadOnlyList<string> paths, ImageLoadOptions options) : IImageDataset
{
    public int Count => paths.Count;
    public int Channels => options.Channels;
    public int Size => options.Size;
    public void Load(int index, Span<float> chw) => ImageIO.LoadInto(paths[index], chw, options);
    public string NameOf(int index) => paths[index];
    public int LabelOf(int index) => -1;
}
