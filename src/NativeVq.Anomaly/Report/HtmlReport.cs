using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using NativeVq.Anomaly.Metrics;
using NativeVq.Data;

namespace NativeVq.Anomaly.Report;

/// <summary>
/// Writes an evaluation as <c>metrics.json</c> (machine-readable; NaN/∞ written as null) and ONE self-contained
/// <c>index.html</c>: no scripts, no external resources — images are base64 PNG data URIs, curves inline SVG — so the
/// page can be mailed, archived or opened offline. Both files are written atomically (temp file + rename).
/// </summary>
public static class HtmlReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // a file, not markup: keep '+' and '<' readable
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new FiniteDouble(), new FiniteFloat() },
    };

    /// <summary>Writes <c>dir/metrics.json</c> and <c>dir/index.html</c>; returns the path of the page.</summary>
    public static string Write(string dir, ReportData data)
    {
        Directory.CreateDirectory(dir);
        var json = JsonSerializer.SerializeToUtf8Bytes(MetricsJson(data), JsonOptions);
        ImageIO.WriteAtomic(Path.Combine(dir, "metrics.json"), s => s.Write(json));
        var html = Encoding.UTF8.GetBytes(Html(data));
        var page = Path.Combine(dir, "index.html");
        ImageIO.WriteAtomic(page, s => s.Write(html));
        return page;
    }

    private static object MetricsJson(ReportData d) => new
    {
        method = d.Method,
        title = TitleOf(d),
        runInfo = d.RunInfo,
        threshold = d.Metrics.Threshold,
        falsePositiveRate = d.Fpr,
        baselines = d.Baselines.Select(b => new { name = b.Name, seconds = b.Seconds, overall = b.Result.Overall, perDefect = b.Result.PerDefect }),
        imageScoreAurocs = d.ImageScoreAurocs,
        overall = d.Metrics.Overall,
        perDefect = d.Metrics.PerDefect,
        curves = new { imageRoc = d.Metrics.ImageRoc, pixelRoc = d.Metrics.PixelRoc, pixelPro = d.Metrics.PixelPro },
        images = d.Images.Select(i => new
        {
            name = i.Name, defect = i.Defect, anomalous = i.Anomalous, score = i.Score,
            flagged = d.Metrics.Threshold is { } t ? i.Score >= t.Value : (bool?)null,
        }),
    };

    /// <summary>The method's overall metrics beside each baseline's, so a reader sees whether the model earns its cost.</summary>
    private static void BaselineTable(StringBuilder sb, ReportData d)
    {
        if (d.Baselines.Count == 0 && d.ImageScoreAurocs.Count == 0) return;
        bool pixel = d.Metrics.Overall.Pixel is not null;
        sb.Append("<h2>Against baselines (same test images)</h2>\n<table><tr><th class=\"l\">method</th><th>image AUROC</th>")
          .Append(pixel ? "<th>pixel AUROC</th><th>AUPRO</th>" : "").Append("<th>seconds</th></tr>\n");
        void Line(string name, MetricSet o, string seconds)
        {
            sb.Append("<tr><td class=\"l\">").Append(E(name)).Append("</td><td>").Append(F(o.Image.Auroc, 4)).Append("</td>");
            if (pixel) sb.Append("<td>").Append(o.Pixel is { } p ? F(p.Auroc, 4) : "–").Append("</td><td>").Append(o.Pixel is { } q ? F(q.Aupro, 4) : "–").Append("</td>");
            sb.Append("<td>").Append(seconds).Append("</td></tr>\n");
        }
        Line(d.Method + " (this report)", d.Metrics.Overall, "");
        foreach (var b in d.Baselines) Line(b.Name, b.Result.Overall, b.Seconds > 0 ? F(b.Seconds, 1) : "");
        sb.Append("</table>\n");
        if (d.ImageScoreAurocs.Count > 0)
        {
            sb.Append("<p class=\"muted\">Image AUROC of other image scores on the same images (<code>--image-score</code>): ");
            sb.Append(string.Join(", ", d.ImageScoreAurocs.Select(kv => $"{E(kv.Key)} {F(kv.Value, 4)}")));
            sb.Append("</p>\n");
        }
    }

    private static string TitleOf(ReportData d) => d.Title ?? $"NativeVq report: {d.Method}";

    internal static string Html(ReportData d)
    {
        var m = d.Metrics;
        var sb = new StringBuilder(1 << 20);
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(TitleOf(d))).Append("</title>\n<style>")
          .Append("body{font:14px system-ui,sans-serif;margin:20px;color:#222}table{border-collapse:collapse;margin:8px 0}")
          .Append("td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#eee}td.l,th.l{text-align:left}")
          .Append(".info td{text-align:left}.imgs td{text-align:center;vertical-align:middle}.imgs img{width:128px;height:128px;image-rendering:pixelated}")
          .Append("tr.flag td.s{background:#fdd}tr.thr td{background:#c00;color:#fff;font-weight:bold;text-align:left}")
          .Append(".err{color:#c00;font-weight:bold}.ok{color:#070}svg{margin:4px 12px 4px 0;background:#fff}.muted{color:#777}")
          .Append("</style></head><body>\n");
        sb.Append("<h1>").Append(E(TitleOf(d))).Append("</h1>\n<table class=\"info\">");
        Row(sb, "Method", d.Method);
        foreach (var (k, v) in d.RunInfo) Row(sb, k, v);
        Row(sb, "Test images", $"{m.Overall.Image.Images} ({m.Overall.Image.Anomalous} anomalous)");
        Row(sb, "Threshold", m.Threshold is { } th ? $"{F(th.Value, 4)} ({th.Rule}, {th.NormalValidationImages} images)" : "none (no normal validation scores)");
        if (d.Fpr is { } fpr)
            Row(sb, "False-positive rate at the threshold", $"expected {F(fpr.ExpectedFpr, 3)}, measured {F(fpr.MeasuredFpr, 3)} ({fpr.FalsePositives} of {fpr.TestNormals} test normals; threshold from {fpr.CalibrationImages} calibration images)");
        sb.Append("</table>\n");
        BaselineTable(sb, d);

        // ---- metric table ----
        bool pix = m.Overall.Pixel is not null;
        double lim = m.Overall.Pixel?.AuproFprLimit ?? PixelLevel.DefaultFprLimit;
        sb.Append("<h2>Metrics</h2>\n<table><tr><th class=\"l\">Subset</th><th>Images</th><th>Anomalous</th><th>Image AUROC</th><th>Average precision</th><th>F1-max</th>");
        if (m.Threshold is not null) sb.Append("<th>TPR @thr</th><th>FPR @thr</th><th>F1 @thr</th>");
        if (pix) sb.Append("<th>Pixel AUROC</th><th>Pixel F1-max</th><th>AUPRO @").Append(F(lim, 2)).Append("</th><th>Regions</th>");
        sb.Append("</tr>\n");
        foreach (var set in m.PerDefect.Prepend(m.Overall))
        {
            var im = set.Image;
            sb.Append("<tr><td class=\"l\">").Append(set.Name == "overall" ? "<b>overall</b>" : E(set.Name)).Append("</td><td>").Append(im.Images)
              .Append("</td><td>").Append(im.Anomalous).Append("</td><td>").Append(F(im.Auroc)).Append("</td><td>").Append(F(im.AveragePrecision))
              .Append("</td><td>").Append(F(im.F1Max)).Append("</td>");
            if (m.Threshold is not null)
            {
                var a = im.AtThreshold!;
                sb.Append("<td>").Append(F(a.Tpr)).Append("</td><td>").Append(F(a.Fpr)).Append("</td><td>").Append(F(a.F1)).Append("</td>");
            }
            if (pix)
            {
                var p = set.Pixel;
                sb.Append("<td>").Append(F(p?.Auroc)).Append("</td><td>").Append(F(p?.F1Max)).Append("</td><td>").Append(F(p?.Aupro))
                  .Append("</td><td>").Append(p?.Regions.ToString(Inv) ?? "–").Append("</td>");
            }
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n<p class=\"muted\">Per-defect rows: that defect's images against all good images. Anomalous when score ≥ threshold.</p>\n");

        // ---- curves ----
        sb.Append("<h2>Curves</h2>\n<div>");
        Svg(sb, $"Image ROC (AUROC {F(m.Overall.Image.Auroc)})", "FPR", "TPR", m.ImageRoc.Fpr, m.ImageRoc.Tpr, 1.0);
        if (m.PixelRoc is { } pr) Svg(sb, $"Pixel ROC (AUROC {F(m.Overall.Pixel?.Auroc)})", "FPR", "TPR", pr.Fpr, pr.Tpr, 1.0);
        if (m.PixelPro is { } pp) Svg(sb, $"PRO to FPR {F(lim, 2)} (AUPRO {F(m.Overall.Pixel?.Aupro)})", "FPR", "PRO", pp.Fpr, pp.Pro, lim);
        sb.Append("</div>\n");

        // ---- images ----
        ImageRows(sb, d);
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    private static void ImageRows(StringBuilder sb, ReportData d)
    {
        var thr = d.Metrics.Threshold?.Value;
        var sorted = d.Images.OrderByDescending(i => i.Score).ThenBy(i => i.Name, StringComparer.Ordinal).ToList();
        int cap = Math.Max(0, d.MaxRows);
        List<ReportImage> top = sorted, misses = [];
        if (sorted.Count > cap)
        {
            // Highest scores first; when the cap bites, a quarter of the rows go to the LOWEST-scoring anomalous
            // images (the likely misses), which a top-k list would never show.
            int missSlots = cap / 4;
            top = sorted.Take(cap - missSlots).ToList();
            misses = sorted.Skip(top.Count).Where(i => i.Anomalous).Reverse().Take(missSlots).ToList();
        }
        bool hasRec = d.Images.Any(i => i.Reconstruction is not null), hasRes = d.Images.Any(i => i.Restoration is not null);
        bool hasMap = d.Images.Any(i => i.Map is not null), hasMask = d.Images.Any(i => i.Mask is not null);
        var (lo, hi) = MapRange(top.Concat(misses));

        sb.Append("<h2>Test images</h2>\n<p>").Append(top.Count + misses.Count).Append(" of ").Append(d.Images.Count)
          .Append(" images, highest score first").Append(misses.Count > 0 ? $"; then the {misses.Count} lowest-scoring anomalous images" : "")
          .Append(hasMap ? $". Heat maps share one colour scale ({F(lo, 3)} to {F(hi, 3)}, inferno)." : ".").Append("</p>\n");
        string header = "<tr><th>#</th><th class=\"l\">Image</th><th>Score</th><th>Input</th>" + (hasRec ? "<th>Reconstruction</th>" : "")
            + (hasRes ? "<th>Restoration</th>" : "") + (hasMap ? "<th>Heat map</th>" : "") + (hasMask ? "<th>Mask</th>" : "") + "</tr>\n";
        int cols = 4 + (hasRec ? 1 : 0) + (hasRes ? 1 : 0) + (hasMap ? 1 : 0) + (hasMask ? 1 : 0);
        sb.Append("<table class=\"imgs\">").Append(header);
        bool lineDrawn = thr is null;
        int rank = 0;
        foreach (var img in top)
        {
            if (!lineDrawn && img.Score < thr) { ThresholdLine(sb, cols, thr!.Value); lineDrawn = true; }
            ImageRow(sb, d, img, ++rank, thr, hasRec, hasRes, hasMap, hasMask, lo, hi);
        }
        if (!lineDrawn && misses.Count == 0 && top.Count == sorted.Count) ThresholdLine(sb, cols, thr!.Value);
        if (misses.Count > 0)
        {
            sb.Append("<tr><th colspan=\"").Append(cols).Append("\" class=\"l\">Lowest-scoring anomalous images</th></tr>\n");
            foreach (var img in misses) ImageRow(sb, d, img, sorted.IndexOf(img) + 1, thr, hasRec, hasRes, hasMap, hasMask, lo, hi);
        }
        sb.Append("</table>\n");
    }

    private static void ThresholdLine(StringBuilder sb, int cols, double t)
        => sb.Append("<tr class=\"thr\"><td colspan=\"").Append(cols).Append("\">threshold ").Append(F(t, 4)).Append(" — above: flagged anomalous, below: normal</td></tr>\n");

    private static void ImageRow(StringBuilder sb, ReportData d, ReportImage img, int rank, double? thr,
        bool hasRec, bool hasRes, bool hasMap, bool hasMask, float lo, float hi)
    {
        bool? flagged = thr is { } t ? img.Score >= t : null;
        string verdict = flagged is null ? "" : flagged == img.Anomalous
            ? $"<span class=\"ok\">{(img.Anomalous ? "TP" : "TN")}</span>"
            : $"<span class=\"err\">{(img.Anomalous ? "FN (missed)" : "FP (false alarm)")}</span>";
        sb.Append("<tr").Append(flagged == true ? " class=\"flag\"" : "").Append("><td>").Append(rank).Append("</td><td class=\"l\">")
          .Append(E(img.Name)).Append("<br>").Append(img.Anomalous ? $"<b>{E(img.Defect)}</b>" : E(img.Defect)).Append("<br>").Append(verdict)
          .Append("</td><td class=\"s\">").Append(F(img.Score, 4)).Append("</td>");
        var input = new ImageF(img.Channels, img.Size, img.Size, img.Input);
        Cell(sb, Thumb(input, d.ThumbnailSize), "input");
        if (hasRec) Cell(sb, img.Reconstruction is null ? null : Thumb(new ImageF(img.Channels, img.Size, img.Size, img.Reconstruction), d.ThumbnailSize), "reconstruction");
        if (hasRes) Cell(sb, img.Restoration is null ? null : Thumb(new ImageF(img.Channels, img.Size, img.Size, img.Restoration), d.ThumbnailSize), "restoration");
        if (hasMap)
        {
            ImageF? ov = null;
            if (img.Map is not null)
            {
                int side = (int)Math.Round(Math.Sqrt(img.Map.Length));
                if (side * side != img.Map.Length) throw new ArgumentException($"{img.Name}: map of {img.Map.Length} values is not square");
                ov = Thumb(HeatMap.Overlay(input, img.Map, side, side, 0.6f, lo, hi), d.ThumbnailSize);
            }
            Cell(sb, ov, "heat map");
        }
        if (hasMask)
        {
            ImageF? mk = null;
            if (img.Mask is not null)
            {
                if (img.Mask.Length != img.Size * img.Size) throw new ArgumentException($"{img.Name}: mask of {img.Mask.Length} values for a {img.Size}x{img.Size} image");
                mk = Thumb(new ImageF(1, img.Size, img.Size, img.Mask.Select(b => b != 0 ? 1f : -1f).ToArray()), d.ThumbnailSize);
            }
            Cell(sb, mk, "mask");
        }
        sb.Append("</tr>\n");
    }

    private static void Cell(StringBuilder sb, ImageF? img, string alt)
    {
        if (img is null) { sb.Append("<td class=\"muted\">–</td>"); return; }
        sb.Append("<td><img alt=\"").Append(alt).Append("\" src=\"").Append(PngData.DataUri(img)).Append("\"></td>");
    }

    /// <summary>Downsamples (antialiased) an image whose side exceeds <paramref name="max"/>; keeps the page small.</summary>
    internal static ImageF Thumb(ImageF img, int max)
    {
        if (max <= 0 || (img.Height <= max && img.Width <= max)) return img;
        double s = (double)max / Math.Max(img.Height, img.Width);
        int w = Math.Max(1, (int)Math.Round(img.Width * s)), h = Math.Max(1, (int)Math.Round(img.Height * s));
        var o = new ImageF(img.Channels, h, w);
        int n = img.Height * img.Width;
        // Box filter: each output pixel averages the source pixels whose centres fall in its footprint
        // (NativeVq.Data's resampler is internal; a box average is all a thumbnail needs).
        for (int c = 0; c < img.Channels; c++)
            for (int oy = 0; oy < h; oy++)
            {
                int y0 = oy * img.Height / h, y1 = Math.Max(y0 + 1, (oy + 1) * img.Height / h);
                for (int ox = 0; ox < w; ox++)
                {
                    int x0 = ox * img.Width / w, x1 = Math.Max(x0 + 1, (ox + 1) * img.Width / w);
                    float acc = 0;
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) acc += img.Data[c * n + y * img.Width + x];
                    o.Data[c * h * w + oy * w + ox] = acc / ((y1 - y0) * (x1 - x0));
                }
            }
        return o;
    }

    /// <summary>One colour scale for all maps: their minimum to their 99.5th percentile (a lone hot pixel does not wash the rest out).</summary>
    private static (float Lo, float Hi) MapRange(IEnumerable<ReportImage> images)
    {
        var maps = images.Where(i => i.Map is not null).Select(i => i.Map!).ToList();
        long total = maps.Sum(m => (long)m.Length);
        if (total == 0) return (0, 1);
        int stride = (int)Math.Max(1, total / 1_000_000);
        var sample = new List<float>();
        float lo = float.PositiveInfinity;
        long k = 0;
        foreach (var m in maps)
            foreach (var v in m)
            {
                if (!float.IsFinite(v)) continue;
                lo = Math.Min(lo, v);
                if (k++ % stride == 0) sample.Add(v);
            }
        if (sample.Count == 0) return (0, 1);
        float hi = (float)ImageLevel.Percentile(sample.ToArray(), 99.5);
        return hi > lo ? (lo, hi) : (lo, lo + 1);
    }

    /// <summary>A 300x300 plot of y against x (x axis 0..xMax, y 0..1) as inline SVG (no xmlns needed inside HTML).</summary>
    private static void Svg(StringBuilder sb, string title, string xl, string yl, double[] x, double[] y, double xMax)
    {
        const int W = 300, H = 300, L = 44, T = 26, PW = 240, PH = 230;
        sb.Append("<svg width=\"").Append(W).Append("\" height=\"").Append(H).Append("\" viewBox=\"0 0 300 300\" font-size=\"11\" font-family=\"sans-serif\">")
          .Append("<text x=\"150\" y=\"16\" text-anchor=\"middle\" font-size=\"13\">").Append(E(title)).Append("</text>")
          .Append($"<rect x=\"{L}\" y=\"{T}\" width=\"{PW}\" height=\"{PH}\" fill=\"none\" stroke=\"#888\"/>");
        for (int g = 1; g < 4; g++)
        {
            double gx = L + PW * g / 4.0, gy = T + PH * g / 4.0;
            sb.Append($"<line x1=\"{F(gx, 1)}\" y1=\"{T}\" x2=\"{F(gx, 1)}\" y2=\"{T + PH}\" stroke=\"#eee\"/><line x1=\"{L}\" y1=\"{F(gy, 1)}\" x2=\"{L + PW}\" y2=\"{F(gy, 1)}\" stroke=\"#eee\"/>");
        }
        if (xMax >= 1) sb.Append($"<line x1=\"{L}\" y1=\"{T + PH}\" x2=\"{L + PW}\" y2=\"{T}\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>");
        for (int g = 0; g <= 2; g++)
        {
            sb.Append($"<text x=\"{F(L + PW * g / 2.0, 1)}\" y=\"{T + PH + 14}\" text-anchor=\"middle\">{F(xMax * g / 2.0, 2)}</text>");
            sb.Append($"<text x=\"{L - 4}\" y=\"{F(T + PH - PH * g / 2.0 + 4, 1)}\" text-anchor=\"end\">{F(g / 2.0, 1)}</text>");
        }
        sb.Append($"<text x=\"{L + PW / 2}\" y=\"{H - 4}\" text-anchor=\"middle\">{xl}</text>")
          .Append($"<text x=\"12\" y=\"{T + PH / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {T + PH / 2})\">{yl}</text>");
        sb.Append("<polyline fill=\"none\" stroke=\"#c03\" stroke-width=\"2\" points=\"");
        for (int i = 0; i < x.Length; i++)
        {
            if (!double.IsFinite(x[i]) || !double.IsFinite(y[i])) continue;
            double xv = x[i], yv = y[i];
            if (xv > xMax)
            {
                // Clip the segment at xMax (interpolated) and stop.
                if (i > 0 && x[i - 1] < xMax) { yv = y[i - 1] + (y[i] - y[i - 1]) * (xMax - x[i - 1]) / (x[i] - x[i - 1]); xv = xMax; }
                else break;
                sb.Append(F(L + PW * xv / xMax, 1)).Append(',').Append(F(T + PH * (1 - yv), 1)).Append(' ');
                break;
            }
            sb.Append(F(L + PW * xv / xMax, 1)).Append(',').Append(F(T + PH * (1 - yv), 1)).Append(' ');
        }
        sb.Append("\"/></svg>\n");
    }

    private static void Row(StringBuilder sb, string k, string v) => sb.Append("<tr><th class=\"l\">").Append(E(k)).Append("</th><td>").Append(E(v)).Append("</td></tr>");
    private static string E(string s) => WebUtility.HtmlEncode(s);
    private static string F(double? v, int digits = 4) => v is { } x && double.IsFinite(x) ? x.ToString("F" + digits, Inv) : "–";

    /// <summary>JSON has no NaN/∞: write null (read back as NaN), so Python/jq/browsers parse metrics.json.</summary>
    private sealed class FiniteDouble : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader r, Type t, JsonSerializerOptions o) => r.TokenType == JsonTokenType.Null ? double.NaN : r.GetDouble();
        public override void Write(Utf8JsonWriter w, double v, JsonSerializerOptions o) { if (double.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue(); }
        public override bool HandleNull => true;
    }

    private sealed class FiniteFloat : JsonConverter<float>
    {
        public override float Read(ref Utf8JsonReader r, Type t, JsonSerializerOptions o) => r.TokenType == JsonTokenType.Null ? float.NaN : r.GetSingle();
        public override void Write(Utf8JsonWriter w, float v, JsonSerializerOptions o) { if (float.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue(); }
        public override bool HandleNull => true;
    }
}
