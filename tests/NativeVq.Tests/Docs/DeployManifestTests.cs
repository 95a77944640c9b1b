using NativeVq.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace NativeVq.Tests.Docs;

/// <summary>
/// deploy/: no Kubernetes schema checker runs offline here (kubeconform is in no package registry we reach), so every
/// manifest is parsed and the fields the deployment relies on are checked: kinds, Indexed completion with
/// completions = the N of --shard auto/N, probe paths and ports, non-root pods, resources, the read-only model
/// volume, --host 0.0.0.0 for serve, and the GPU variants' nvidia.com/gpu with --device cuda.
/// </summary>
public sealed class DeployManifestTests
{
    private static readonly string Deploy = Path.GetFullPath(Path.Combine(Paths.Fixtures, "..", "..", "deploy"));

    private static List<(string File, YamlMappingNode Doc)> Manifests()
    {
        var docs = new List<(string, YamlMappingNode)>();
        foreach (var file in Directory.GetFiles(Path.Combine(Deploy, "k8s"), "*.yaml").Order(StringComparer.Ordinal))
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(file)) stream.Load(reader);
            docs.AddRange(stream.Documents.Select(d => (Path.GetFileName(file), (YamlMappingNode)d.RootNode)));
        }
        return docs;
    }

    private static YamlNode? At(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode m || !m.Children.TryGetValue(new YamlScalarNode(key), out var next)) return null;
            node = next;
        }
        return node;
    }

    private static string? Scalar(YamlNode node, params string[] path) => (At(node, path) as YamlScalarNode)?.Value;

    private static IEnumerable<YamlMappingNode> Items(YamlNode node, params string[] path)
        => (At(node, path) as YamlSequenceNode)?.Children.Cast<YamlMappingNode>() ?? [];

    private static string[] Args(YamlMappingNode container)
        => ((YamlSequenceNode)At(container, "args")!).Children.Select(a => ((YamlScalarNode)a).Value!).ToArray();

    private static string? ArgAfter(string[] args, string option)
    {
        int i = Array.IndexOf(args, option);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static YamlMappingNode PodSpec(YamlMappingNode doc) => (YamlMappingNode)At(doc, "spec", "template", "spec")!;

    [Fact]
    public void EveryManifestParsesAndNamesItsKind()
    {
        var docs = Manifests();
        Assert.NotEmpty(docs);
        foreach (var (file, doc) in docs)
        {
            Assert.False(string.IsNullOrEmpty(Scalar(doc, "apiVersion")), file);
            Assert.False(string.IsNullOrEmpty(Scalar(doc, "metadata", "name")), file);
        }
        var kinds = docs.Select(d => Scalar(d.Doc, "kind")).ToHashSet();
        Assert.Superset(new HashSet<string?> { "Job", "Deployment", "Service", "HorizontalPodAutoscaler" }, kinds);
    }

    [Fact]
    public void PodsRunAsNonRootWithResourcesAndTheModelReadOnly()
    {
        foreach (var (file, doc) in Manifests().Where(d => Scalar(d.Doc, "kind") is "Job" or "Deployment"))
        {
            var pod = PodSpec(doc);
            Assert.True(Scalar(pod, "securityContext", "runAsNonRoot") == "true", $"{file}: runAsNonRoot");
            Assert.NotEqual("0", Scalar(pod, "securityContext", "runAsUser"));
            foreach (var c in Items(pod, "containers"))
            {
                Assert.Equal("nativevq:0.1.0", Scalar(c, "image"));
                foreach (var kind in new[] { "requests", "limits" })
                    foreach (var res in new[] { "cpu", "memory" })
                        Assert.True(Scalar(c, "resources", kind, res) is not null, $"{file}: resources.{kind}.{res}");
                Assert.Equal("false", Scalar(c, "securityContext", "allowPrivilegeEscalation"));
                var args = Args(c);
                if (ArgAfter(args, "--model") is { } model)
                {
                    var mount = Items(c, "volumeMounts").Single(m => Scalar(m, "mountPath") == model);
                    Assert.True(Scalar(mount, "readOnly") == "true", $"{file}: the model mount must be read-only");
                    var volume = Items(pod, "volumes").Single(v => Scalar(v, "name") == Scalar(mount, "name"));
                    Assert.Equal("true", Scalar(volume, "persistentVolumeClaim", "readOnly"));
                }
                bool gpu = Scalar(c, "resources", "limits", "nvidia.com/gpu") is not null;
                Assert.Equal(gpu, file.Contains("gpu"));
                if (gpu)
                {
                    Assert.Equal("1", Scalar(c, "resources", "limits", "nvidia.com/gpu"));
                    Assert.Equal("cuda", ArgAfter(args, "--device"));
                }
                else if (args[0] is "score" or "serve") Assert.Equal("cpu", ArgAfter(args, "--device"));
            }
        }
    }

    [Fact]
    public void ScoreJobsAreIndexedWithOnePodPerShard()
    {
        var jobs = Manifests().Where(d => Scalar(d.Doc, "kind") == "Job" && Args(Items(PodSpec(d.Doc), "containers").Single())[0] == "score").ToList();
        Assert.Equal(2, jobs.Count);   // cpu and gpu
        foreach (var (file, job) in jobs)
        {
            Assert.Equal("Indexed", Scalar(job, "spec", "completionMode"));
            var args = Args(Items(PodSpec(job), "containers").Single());
            var shard = ArgAfter(args, "--shard");
            Assert.True(shard is not null && shard.StartsWith("auto/"), $"{file}: --shard auto/N");
            Assert.Equal(shard!["auto/".Length..], Scalar(job, "spec", "completions"));
            Assert.Equal("Never", Scalar(PodSpec(job), "restartPolicy"));
            Assert.NotNull(ArgAfter(args, "--out"));
        }
        var merge = Manifests().Single(d => Scalar(d.Doc, "kind") == "Job" && Args(Items(PodSpec(d.Doc), "containers").Single())[0] == "merge-scores");
        var mergeArgs = Args(Items(PodSpec(merge.Doc), "containers").Single());
        Assert.Equal(ArgAfter(Args(Items(PodSpec(jobs[0].Doc), "containers").Single()), "--out"), ArgAfter(mergeArgs, "--input"));
    }

    [Fact]
    public void ServeListensOnAllInterfacesWithProbesAServiceAndAnAutoscaler()
    {
        var docs = Manifests();
        foreach (var (file, dep) in docs.Where(d => Scalar(d.Doc, "kind") == "Deployment"))
        {
            var c = Items(PodSpec(dep), "containers").Single();
            var args = Args(c);
            Assert.Equal("serve", args[0]);
            Assert.Equal("0.0.0.0", ArgAfter(args, "--host"));
            var port = Items(c, "ports").Single();
            Assert.Equal(ArgAfter(args, "--port"), Scalar(port, "containerPort"));
            Assert.Equal("/healthz", Scalar(c, "livenessProbe", "httpGet", "path"));
            Assert.Equal("/readyz", Scalar(c, "readinessProbe", "httpGet", "path"));
            Assert.Equal(Scalar(port, "name"), Scalar(c, "livenessProbe", "httpGet", "port"));
            Assert.Equal(Scalar(port, "name"), Scalar(c, "readinessProbe", "httpGet", "port"));

            var labels = (YamlMappingNode)At(dep, "spec", "template", "metadata", "labels")!;
            var service = docs.Single(d => d.File == file && Scalar(d.Doc, "kind") == "Service").Doc;
            var selector = (YamlMappingNode)At(service, "spec", "selector")!;
            Assert.All(selector.Children, kv => Assert.Equal(kv.Value, labels.Children[kv.Key]));
            Assert.Equal(Scalar(port, "name"), Scalar(Items(service, "spec", "ports").Single(), "targetPort"));
        }
        var hpa = docs.Single(d => Scalar(d.Doc, "kind") == "HorizontalPodAutoscaler").Doc;
        Assert.Equal("Deployment", Scalar(hpa, "spec", "scaleTargetRef", "kind"));
        Assert.Contains(docs, d => Scalar(d.Doc, "kind") == "Deployment" && Scalar(d.Doc, "metadata", "name") == Scalar(hpa, "spec", "scaleTargetRef", "name"));
        Assert.True(int.Parse(Scalar(hpa, "spec", "minReplicas")!) <= int.Parse(Scalar(hpa, "spec", "maxReplicas")!));
    }

    [Fact]
    public void DockerfileBuildsWithTheSdkAndRunsAsNonRootOnTheRuntime()
    {
        var lines = File.ReadAllLines(Path.Combine(Deploy, "Dockerfile")).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        var from = lines.Where(l => l.StartsWith("FROM ")).ToArray();
        Assert.Equal(2, from.Length);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build", from[0]);
        Assert.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:10.0", from[1]);
        var user = lines.Last(l => l.StartsWith("USER "));
        Assert.Matches(@"^USER [1-9][0-9]*(:[1-9][0-9]*)?$", user);   // numeric, not root: runAsNonRoot can check it
        Assert.Contains(lines, l => l.StartsWith("COPY --from=build"));
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"/app/nativevq.dll\"]", lines);
        Assert.True(File.Exists(Path.Combine(Deploy, "..", ".dockerignore")));
    }
}
