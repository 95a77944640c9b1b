using System.Diagnostics;

namespace NativeVq.Models.Training;

/// <summary>
/// Times one stage (an epoch, an encoding pass) and reports it as <see cref="TrainingProgress"/> to an optional sink:
/// the trainers' epoch metrics take their seconds and images/s from here whether or not anyone listens.
/// </summary>
public sealed class ProgressStage(IProgress<TrainingProgress>? progress, string label, int total)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _done;
    private long _items;

    public double Seconds => _clock.Elapsed.TotalSeconds;
    public double ItemsPerSecond => _items / Math.Max(1e-9, Seconds);

    /// <summary><paramref name="done"/> of the total steps and <paramref name="items"/> images processed so far.</summary>
    public void Update(int done, long items, string figures)
    {
        _done = done;
        _items = items;
        progress?.Report(new TrainingProgress(label, done, total, items, figures, false, Seconds));
    }

    public void Finish(string figures) => progress?.Report(new TrainingProgress(label, _done, total, _items, figures, true, Seconds));
}
