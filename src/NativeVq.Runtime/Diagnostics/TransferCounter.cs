namespace NativeVq;

/// <summary>
/// Host↔device copies of one backend: how many and how many bytes each way. Counted always (two interlocked adds
/// per copy), so a test or a benchmark can check that a training step keeps its tensors on the device (only the
/// batch goes in and the loss comes out); with the profiler on, each copy is also a timed event
/// ("copy.host_to_device" / "copy.device_to_host") in its table and trace. The cpu backend has no device and counts nothing.
/// </summary>
public sealed class TransferCounter
{
    private long _uploads, _uploadBytes, _downloads, _downloadBytes;

    public readonly record struct Counts(long Uploads, long UploadBytes, long Downloads, long DownloadBytes);

    public void CountUpload(long bytes)
    {
        Interlocked.Increment(ref _uploads);
        Interlocked.Add(ref _uploadBytes, bytes);
    }

    public void CountDownload(long bytes)
    {
        Interlocked.Increment(ref _downloads);
        Interlocked.Add(ref _downloadBytes, bytes);
    }

    public Counts Snapshot() => new(Interlocked.Read(ref _uploads), Interlocked.Read(ref _uploadBytes), Interlocked.Read(ref _downloads), Interlocked.Read(ref _downloadBytes));

    /// <summary>Counts since <paramref name="before"/> (a snapshot taken earlier).</summary>
    public Counts Since(Counts before)
    {
        var now = Snapshot();
        return new(now.Uploads - before.Uploads, now.UploadBytes - before.UploadBytes, now.Downloads - before.Downloads, now.DownloadBytes - before.DownloadBytes);
    }
}

public abstract partial class Backend
{
    /// <summary>Host↔device copies made through this backend (see <see cref="TransferCounter"/>).</summary>
    public TransferCounter Transfers { get; } = new();
}
