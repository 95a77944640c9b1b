using System.Diagnostics;
using System.Globalization;

namespace NativeVq.Cli.Commands;

/// <summary>
/// One progress line per epoch on stderr: a bar, step counts, the caller's figures, throughput and ETA.
/// On a terminal the line redraws in place; when stderr is redirected (CI, logs) it prints at most every
/// 10 % so logs stay readable. The CLI's own loops draw it directly; trainers' reports reach it through
/// <see cref="ConsoleProgress"/>.
/// </summary>
public sealed class ProgressBar
{
    private readonly string _label;
    private readonly int _total;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TimeSpan _startedBefore;
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private readonly TextWriter _out;
    private int _lastDecile = -1;
    private long _items;

    /// <param name="startedBefore">How long the stage ran before this bar was made (a trainer's report comes after its first batch).</param>
    public ProgressBar(string label, int total, TextWriter? output = null, TimeSpan startedBefore = default)
    {
        _label = label;
        _total = Math.Max(1, total);
        _out = output ?? Console.Error;
        _startedBefore = startedBefore;
    }

    /// <summary>Quiet mode: prints nothing (tests, nested runs).</summary>
    public static bool Silent { get; set; }

    /// <summary>Reports <paramref name="done"/> of the total steps and <paramref name="items"/> images processed so far.</summary>
    public void Update(int done, long items, string figures)
    {
        _items = items;
        if (Silent) return;
        int decile = done * 10 / _total;
        if (!_interactive && decile == _lastDecile && done < _total) return;
        _lastDecile = decile;
        _out.Write((_interactive ? "\r" : "") + Line(done, figures) + (_interactive ? "\u001b[K" : "\n"));
    }

    public void Finish(string figures)
    {
        if (Silent) return;
        _out.Write((_interactive ? "\r" : "") + Line(_total, figures) + (_interactive ? "\u001b[K\n" : "\n"));
    }

    public double Seconds => (_startedBefore + _clock.Elapsed).TotalSeconds;
    public double ItemsPerSecond => _items / Math.Max(1e-9, Seconds);

    private string Line(int done, string figures)
    {
        const int width = 24;
        int filled = (int)((long)width * done / _total);
        double eta = done > 0 ? Seconds / done * (_total - done) : 0;
        return string.Create(CultureInfo.InvariantCulture,
            $"{_label} [{new string('#', filled)}{new string('.', width - filled)}] {done}/{_total} {figures} {ItemsPerSecond:F0} img/s ETA {TimeSpan.FromSeconds(Math.Round(eta)):mm\\:ss}");
    }
}
