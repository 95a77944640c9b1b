using NativeVq.Anomaly;

public static class ScoreFolderExample
{
    public static void Run(string runDir, string imageFolder)
    {
        using var model = AnomalyModel.Load(runDir, device: "auto");   // vqvae.nvq, prior.nvq, calibration.json
        foreach (var r in model.ScoreFolder(imageFolder))
        {
            Console.WriteLine($"{r.Name}: score {r.Score:F2} (threshold {r.Threshold:F2}), anomalous: {r.IsAnomalous}");
            int peak = Array.IndexOf(r.Map!, r.Map!.Max());               // pixel map: row-major, MapWidth x MapHeight
            Console.WriteLine($"  most anomalous pixel at x={peak % r.MapWidth}, y={peak / r.MapWidth}: {r.Map![peak]:F3}");
        }
    }
}
