namespace NativeVq.Data;

/// <summary>
/// Writes generated textures as an MVTec AD-style category folder, so the train / eval commands can be tried
/// (and measured) on data of any size without a download: train/good/NNNNN.png (normal images),
/// test/{good,scratch,spot}/NNNNN.png (half of them with a defect) and ground_truth/{scratch,spot}/NNNNN_mask.png.
/// The test images come from seed + 1,000,003, as in the demo, so they never repeat a training image.
/// </summary>
public static class SyntheticCategory
{
    public static void Write(string dir, int trainCount, int testCount, int size, ulong seed, string texture)
    {
        if (trainCount <= 0 || testCount <= 0) throw new UserError($"--export needs at least one training and one test image, got {trainCount} and {testCount}");
        if (size < 8) throw new UserError($"--export-size must be at least 8 pixels, got {size}");
        var full = Path.GetFullPath(dir);
        if (File.Exists(full) || (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any()))
            throw new UserError($"--export {dir}: exists and is not an empty folder (choose a new folder)");
        OutputPath.CreateFolder(Path.GetDirectoryName(full)!, $"--export {dir}");
        // Written next to the target and renamed at the end: an interrupted export leaves no half category behind.
        var tmp = full + $".tmp-{Environment.ProcessId}";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        var train = new SyntheticTextures(trainCount, size, seed, texture: texture);
        var test = new SyntheticTextures(testCount, size, seed + 1_000_003, anomalyFraction: 0.5f, texture: texture);
        var img = new float[size * size];
        for (int i = 0; i < train.Count; i++)
        {
            train.Load(i, img);
            Save(Path.Combine(tmp, "train", "good", $"{i:D5}.png"), img, size);
        }
        for (int i = 0; i < test.Count; i++)
        {
            string defect = test.DefectOf(i);
            test.Load(i, img);
            Save(Path.Combine(tmp, "test", defect, $"{i:D5}.png"), img, size);
            if (defect == "good") continue;
            var mask = test.LoadMask(i);
            for (int k = 0; k < mask.Length; k++) mask[k] = mask[k] * 2f - 1f;   // 1 → white, 0 → black
            Save(Path.Combine(tmp, "ground_truth", defect, $"{i:D5}_mask.png"), mask, size);
        }
        if (Directory.Exists(full)) Directory.Delete(full);
        Directory.Move(tmp, full);
    }

    private static void Save(string path, float[] img, int size)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        ImageIO.SavePng(path, img, 1, size, size);
    }
}
