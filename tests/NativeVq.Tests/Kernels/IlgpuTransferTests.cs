using NativeVq.Tests.Support;

namespace NativeVq.Tests.Kernels;

/// <summary>Host ↔ device copies on ilgpu-cpu while another thread makes the GC move managed arrays.</summary>
[Collection("ilgpu")]
public sealed class IlgpuTransferTests(IlgpuFixture ilgpu)
{
    // ILGPU's span copies take a raw host address; an unpinned array moved by a compacting GC mid-copy made
    // the suite fail now and then with results of 0. This forces compactions during many round trips.
    [Fact]
    public void RoundTripsSurviveCompactingCollections()
    {
        var stop = false;
        using var started = new ManualResetEventSlim();
        var collector = new Thread(() =>
        {
            started.Set();
            while (!Volatile.Read(ref stop))
            {
                GC.Collect(0, GCCollectionMode.Forced, blocking: true, compacting: true);
                Thread.Sleep(1); // back-to-back collections would starve the copying thread
            }
        });
        collector.Start();
        started.Wait();
        int gcs = GC.CollectionCount(0);
        try
        {
            var rng = new Random(5);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.ElapsedMilliseconds < 1500)
            {
                _ = new object[rng.Next(1, 64)]; // garbage before each array so a compaction moves it
                var values = new float[1 + rng.Next(2048)];
                for (int i = 0; i < values.Length; i++) values[i] = 1f + rng.NextSingle();
                var ints = new int[values.Length];
                for (int i = 0; i < ints.Length; i++) ints[i] = rng.Next(1, int.MaxValue);

                using var t = Tensor.FromArray(ilgpu.Backend, values, values.Length);
                using var ti = Tensor.FromArray(ilgpu.Backend, ints, ints.Length);
                Assert.Equal(values, t.ToArray());
                Assert.Equal(ints, ti.ToIntArray());
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }
        Assert.True(GC.CollectionCount(0) - gcs > 20, "the collector thread should have run many collections during the copies");
    }
}
