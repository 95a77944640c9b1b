using NativeVq.Models.Training;

namespace NativeVq.Cli.Commands;

/// <summary>
/// Draws the lower layers' <see cref="TrainingProgress"/> reports as one <see cref="ProgressBar"/> per stage on stderr,
/// synchronously (unlike <see cref="Progress{T}"/>, which would post to a thread pool and could reorder lines).
/// `--quiet` silences it through <see cref="ProgressBar.Silent"/>.
/// </summary>
internal sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    private ProgressBar? _bar;
    private string? _label;

    public void Report(TrainingProgress p)
    {
        if (_bar is null || _label != p.Label)
        {
            _bar = new ProgressBar(p.Label, p.Total, startedBefore: TimeSpan.FromSeconds(p.Seconds));
            _label = p.Label;
        }
        if (p.Finished)
        {
            _bar.Finish(p.Figures);
            _bar = null;   // the next stage may reuse the label (two encoding passes)
        }
        else _bar.Update(p.Done, p.Items, p.Figures);
    }

    /// <summary>Notices of the lower layers (resuming, calibration) as lines on stderr.</summary>
    public static void Notice(string message) => Console.Error.WriteLine(message);
}
