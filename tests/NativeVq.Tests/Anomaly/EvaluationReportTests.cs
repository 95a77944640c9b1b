using System.Text.Json;
using System.Text.RegularExpressions;
using NativeVq.Anomaly.Metrics;
using NativeVq.Anomaly.Report;

namespace NativeVq.Tests.Anomaly;

public sealed class EvaluationReportTests
{
    private static EvaluationInput Sample(int size = 8, bool masks = true)
    {
        string[] defects = ["good", "good", "good", "scratch", "scratch", "hole", "Good"];
        float[] scores = [0.1f, 0.4f, 0.2f, 0.5f, 0.3f, 0.9f, 0.15f];
        var rng = new Random(1);
        var maps = new List<float[]>();
        var ms = new List<byte[]?>();
        for (int i = 0; i < defects.Length; i++)
        {
            bool bad = !Evaluation.IsGood(defects[i]);
            byte[]? m = bad ? new byte[size * size] : null;
            if (m is not null) for (int p = 0; p < 6 + i; p++) m[(i + p * 3) % m.Length] = 1;
            var map = new float[size * size];
            for (int p = 0; p < map.Length; p++) map[p] = (float)rng.NextDouble() + (m is not null && m[p] != 0 ? 0.7f : 0);
            maps.Add(map); ms.Add(m);
        }
        return new EvaluationInput(defects, scores, maps, masks ? ms : null, size, size, NormalValidationScores: [0.1f, 0.2f, 0.3f, 0.35f]);
    }

    [Fact]
    public void Overall_and_per_defect_metrics()
    {
        var r = Evaluation.Evaluate(Sample(), new EvaluationOptions { ThresholdPercentile = 50 });
        // overall: anomalies {0.5, 0.3, 0.9} vs normals {0.1, 0.4, 0.2, 0.15}: 0.3 loses to 0.4 → 11/12
        Assert.Equal(11 / 12.0, r.Overall.Image.Auroc, 12);
        Assert.Equal(["hole", "scratch"], r.PerDefect.Select(d => d.Name));
        Assert.Equal(1.0, r.PerDefect[0].Image.Auroc, 12);           // hole 0.9 vs normals
        Assert.Equal(7 / 8.0, r.PerDefect[1].Image.Auroc, 12);       // scratch {0.5, 0.3}
        Assert.Equal(6, r.PerDefect[1].Image.Images);          // 4 good ("Good" counts) + 2 scratch
        // threshold = median of {0.1, 0.2, 0.3, 0.35} = 0.25 → flags 0.4, 0.5, 0.3, 0.9
        Assert.Equal(0.25, r.Threshold!.Value, 6);
        var at = r.Overall.Image.AtThreshold!;
        Assert.Equal((3L, 1L, 3L, 0L), (at.Tp, at.Fp, at.Tn, at.Fn));
        Assert.NotNull(r.Overall.Pixel);
        Assert.NotNull(r.PerDefect[0].Pixel);
        Assert.True(r.Overall.Pixel!.Aupro > 0.5);
        Assert.Equal(0.3, r.Overall.Pixel.AuproFprLimit);
    }

    [Fact]
    public void No_masks_means_no_pixel_metrics_and_no_validation_means_no_threshold()
    {
        var s = Sample(masks: false) with { NormalValidationScores = null };
        var r = Evaluation.Evaluate(s);
        Assert.Null(r.Overall.Pixel);
        Assert.Null(r.PixelRoc);
        Assert.Null(r.Threshold);
        Assert.Null(r.Overall.Image.AtThreshold);
        var abs = Evaluation.Evaluate(s, new EvaluationOptions { Threshold = 0.45 });
        Assert.Equal(0.45, abs.Threshold!.Value);
    }

    private static ReportData Report(int channels, int rows, int maxRows)
    {
        const int size = 8;
        var input = Sample(size);
        var result = Evaluation.Evaluate(input);
        var rng = new Random(2);
        float[] Img() => Enumerable.Range(0, channels * size * size).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var images = Enumerable.Range(0, rows).Select(i =>
        {
            int k = i % input.Scores.Count;
            return new ReportImage($"img<{i}>.png", !Evaluation.IsGood(input.Defects[k]), input.Defects[k], input.Scores[k] + i * 1e-3f,
                Img(), Img(), i % 2 == 0 ? Img() : null, i % 3 == 0 ? new float[16].Select(_ => (float)rng.NextDouble()).ToArray() : input.Maps![k],
                input.Masks![k], channels, size);
        }).ToList();
        return new ReportData("vqvae+pixelsnail", result, images)
        {
            RunInfo = new Dictionary<string, string> { ["dataset"] = "synthetic & <test>", ["checkpoint"] = "run/ckpt.nvq" },
            MaxRows = maxRows,
        };
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Html_report_is_self_contained_and_metrics_json_parses(int channels)
    {
        var dir = Path.Combine(Path.GetTempPath(), "nvq-report-" + Guid.NewGuid().ToString("N"));
        try
        {
            var page = HtmlReport.Write(dir, Report(channels, 7, 200));
            var html = File.ReadAllText(page);
            Assert.StartsWith("<!DOCTYPE html>", html);
            Assert.Contains("<svg", html);
            Assert.Contains("data:image/png;base64,", html);
            foreach (var name in new[] { "Image AUROC", "Average precision", "F1-max", "Pixel AUROC", "AUPRO", "Pixel ROC", "threshold" })
                Assert.Contains(name, html);
            Assert.DoesNotContain("http://", html);
            Assert.DoesNotContain("https://", html);
            Assert.DoesNotContain("<script", html);
            Assert.DoesNotContain("<link", html);
            Assert.Contains("img&lt;3&gt;.png", html);            // names are escaped
            Assert.Contains("synthetic &amp; &lt;test&gt;", html);
            Assert.Equal(7, Regex.Matches(html, "alt=\"input\"").Count);
            Assert.Equal(7, Regex.Matches(html, "alt=\"heat map\"").Count);
            Assert.Single(Regex.Matches(html, "class=\"thr\""));

            // Every embedded PNG decodes.
            foreach (Match m in Regex.Matches(html, "data:image/png;base64,([A-Za-z0-9+/=]+)"))
            {
                var bytes = Convert.FromBase64String(m.Groups[1].Value);
                var img = NativeVq.Data.ImageIO.Decode(bytes, "embedded", 3);
                Assert.Equal(8, img.Width);
            }

            using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "metrics.json")));
            var root = doc.RootElement;
            Assert.Equal("vqvae+pixelsnail", root.GetProperty("method").GetString());
            Assert.Equal(11 / 12.0, root.GetProperty("overall").GetProperty("image").GetProperty("auroc").GetDouble(), 12);
            Assert.True(root.GetProperty("overall").GetProperty("pixel").GetProperty("aupro").GetDouble() > 0);
            Assert.Equal(2, root.GetProperty("perDefect").GetArrayLength());
            Assert.Equal(7, root.GetProperty("images").GetArrayLength());
            Assert.Equal(JsonValueKind.Null, root.GetProperty("curves").GetProperty("imageRoc").GetProperty("thresholds")[0].ValueKind); // +∞ → null
            Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Rows_are_capped_sorted_and_show_the_lowest_scoring_anomalies()
    {
        var html = HtmlReport.Html(Report(1, 40, 8));
        Assert.Equal(8, Regex.Matches(html, "alt=\"input\"").Count);
        Assert.Contains("Lowest-scoring anomalous images", html);
        var scores = Regex.Matches(html, "<td class=\"s\">([0-9.]+)</td>").Select(m => double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(scores.Take(6).OrderDescending(), scores.Take(6));
    }

    [Fact]
    public void Thumbnails_downsample_large_images()
    {
        var big = new NativeVq.Data.ImageF(3, 300, 200);
        var t = HtmlReport.Thumb(big, 128);
        Assert.Equal((128, 85), (t.Height, t.Width));
        Assert.Same(big, HtmlReport.Thumb(big, 0));
    }
}
