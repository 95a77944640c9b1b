namespace NativeVq.Models.Training;

/// <summary>
/// What a training loop reports per step — its loss scalars and, for the VQ-VAE, the code-usage histogram — kept on the
/// device: each step copies its losses into the next slot of a device buffer (a device-to-device copy) and adds its
/// codes to device counts (<see cref="Backend.CountCodes"/>); the host reads the filled slots and the counts in two
/// downloads every <see cref="Interval"/> steps (and before any checkpoint), instead of a synchronising read of every
/// loss and of the step's indices each step. The host sees the same float losses in the same order as reading them
/// per step, so its running sums in double are unchanged.
/// </summary>
public sealed class DeviceStepLog : IDisposable
{
    /// <summary>Steps between reads: 16 steps of a GPU step's ≈ 10–40 ms keep the progress line a few updates a second.</summary>
    public const int DefaultInterval = 16;

    private readonly Backend _backend;
    private readonly Tensor _slots;   // [1, Interval·Width]
    private readonly Tensor? _counts; // [codes], the codes seen since the last read

    public DeviceStepLog(Backend backend, int width, int interval = DefaultInterval, int codes = 0)
    {
        if (width < 1 || interval < 1) throw new ArgumentOutOfRangeException(nameof(width), "a step log needs at least one value and one step");
        _backend = backend;
        Width = width;
        Interval = interval;
        _slots = TensorScope.Unscoped(() => Tensor.Zeros(backend, 1, interval * width));
        if (codes > 0) _counts = TensorScope.Unscoped(() => Tensor.Zeros(backend, codes));
    }

    public int Width { get; }
    public int Interval { get; }

    /// <summary>Steps recorded since the last <see cref="Read"/>.</summary>
    public int Pending { get; private set; }

    public bool IsFull => Pending == Interval;

    /// <summary>Records one step: <paramref name="values"/> (Width one-element tensors) and, with codes, the step's code indices.</summary>
    public void Record(Tensor[] values, Tensor? indices = null)
    {
        if (values.Length != Width) throw new ArgumentException($"step log: {values.Length} values, expected {Width}");
        if (IsFull) throw new InvalidOperationException("step log: full, read it before recording another step");
        using (Autograd.NoGrad())
        {
            for (int j = 0; j < Width; j++)
                _backend.CopyChannels(values[j].Reshape(1, 1), _slots, 0, Pending * Width + j, 1, accumulate: false);
        }
        if (_counts is not null && indices is not null) _backend.CountCodes(indices, _counts, _counts.Numel);
        Pending++;
    }

    /// <summary>
    /// The values of the pending steps (step-major, Width per step) and the code counts since the last read (empty without
    /// codes); resets both.
    /// </summary>
    public (float[] Values, long[] Counts) Read()
    {
        if (Pending == 0) return ([], _counts is null ? [] : new long[_counts.Numel]);
        var values = _slots.ToArray().AsSpan(0, Pending * Width).ToArray();
        long[] counts = [];
        if (_counts is not null)
        {
            counts = _counts.ToArray().Select(c => (long)c).ToArray();
            _backend.Fill(_counts, 0f);
        }
        Pending = 0;
        return (values, counts);
    }

    public void Dispose()
    {
        _slots.Dispose();
        _counts?.Dispose();
    }
}
