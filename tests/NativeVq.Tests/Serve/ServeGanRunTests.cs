using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using NativeVq.Anomaly;
using NativeVq.Anomaly.Report;
using NativeVq.Cpu;
using NativeVq.Data;
using NativeVq.Serve;
using NativeVq.Tests.Support;

namespace NativeVq.Tests.Serve;

/// <summary>`nativevq serve` on a GAN + encoder run (a model kind without λ / τ): real Kestrel on 127.0.0.1 port 0.</summary>
public sealed class ServeGanRunTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "nvq-servegan-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    [Fact]
    public async Task ServesTheScoreAndThresholdTheLibraryGives()
    {
        var cal = TinyGanRun.Make(_dir);
        using var scorer = AnomalyModelScorer.Load(_dir, CpuBackend.Instance, new AnomalyModelOptions());
        Assert.Equal("gan", scorer.Kind);
        Assert.Equal("encoder-norm", scorer.ScoreName);
        Assert.Equal(cal.Thresholds["encoder-norm"], scorer.Threshold);
        await using var server = ScoringServer.Create(new ServeOptions { Port = 0 });
        server.SetModel(scorer);
        await server.StartAsync();
        using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        using var library = AnomalyModel.Load(_dir, CpuBackend.Instance);
        var test = new SyntheticTextures(4, 32, 13, anomalyFraction: 0.5f);
        var served = new List<double>();
        for (int i = 0; i < test.Count; i++)
        {
            var img = new ImageF(1, 32, 32);
            test.Load(i, img.Data);
            var png = PngData.Encode(img);
            var body = new ByteArrayContent(png);
            body.Headers.ContentType = MediaTypeHeaderValue.Parse("image/png");
            var r = await client.PostAsync("/v1/score", body);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            var j = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            var expected = library.Score(library.DecodeImage(png, "test"));
            Assert.Equal(expected.Score, (double)j["score"]!);
            Assert.Equal(library.Threshold, (double)j["threshold"]!);
            Assert.Equal(expected.IsAnomalous, (bool)j["is_anomalous"]!);
            served.Add((double)j["score"]!);
        }
        Assert.True(served.Distinct().Count() > 1, "every image served the same score");
        await server.StopAsync();
    }
}
