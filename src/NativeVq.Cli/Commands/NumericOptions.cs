using System.CommandLine;
using System.Globalization;

namespace NativeVq.Cli.Commands;

/// <summary>
/// One place that checks every numeric option of every command before any work starts: each value must be a
/// finite number, and the options listed here must lie in their range. The message names the option and the
/// range, so `--lr NaN` or `--tau -1` is a one-line user error, never a silent run or a crash deep inside.
/// </summary>
internal static class NumericOptions
{
    private sealed record Range(double Min, double Max, bool MinOpen = false, bool MaxOpen = false)
    {
        public bool Contains(double v) => (MinOpen ? v > Min : v >= Min) && (MaxOpen ? v < Max : v <= Max);

        public string Describe()
        {
            if (double.IsPositiveInfinity(Max))
                return Min == 0 && MinOpen ? "a positive number" : $"{(MinOpen ? "above" : "at least")} {Min.ToString(CultureInfo.InvariantCulture)}";
            return $"in {(MinOpen ? "(" : "[")}{Min.ToString(CultureInfo.InvariantCulture)}, {Max.ToString(CultureInfo.InvariantCulture)}{(MaxOpen ? ")" : "]")}";
        }
    }

    private static readonly double Inf = double.PositiveInfinity;

    /// <summary>Ranges by option name; an option not listed only has to be finite.</summary>
    private static readonly Dictionary<string, Range> Ranges = new()
    {
        ["--lr"] = new(0, Inf, MinOpen: true),
        ["--epochs"] = new(1, Inf),
        ["--batch"] = new(1, Inf),
        ["--size"] = new(1, 8192),
        ["--channels"] = new(0, 3),
        ["--max-pixels"] = new(1, Inf),
        ["--max-steps"] = new(0, Inf),
        ["--clip-norm"] = new(0, Inf),
        ["--width"] = new(1, 4096),
        ["--codes"] = new(2, 65536),
        ["--embedding-dim"] = new(1, 4096),
        ["--ema-decay"] = new(0, 1, MinOpen: true, MaxOpen: true),
        ["--restart-dead-codes"] = new(0, Inf),
        ["--normal-class"] = new(0, 9),
        ["--held-out"] = new(0, 1, MaxOpen: true),
        ["--lambda-percentile"] = new(0, 100),
        ["--tau-percentile"] = new(0, 100),
        ["--threshold-percentile"] = new(0, 100),
        ["--prior-channels"] = new(1, 4096),
        ["--prior-dropout"] = new(0, 1, MaxOpen: true),
        ["--lambda"] = new(0, Inf),
        ["--tau"] = new(0, Inf),
        ["--restorations"] = new(1, 10000),
        ["--weight-c"] = new(0, Inf),
        ["--min-pool"] = new(1, 1001),
        ["--avg-pool"] = new(1, 1001),
        ["--limit"] = new(0, Inf),
        ["--report-rows"] = new(0, Inf),
        ["--count"] = new(1, 100000),
        ["--temperature"] = new(0, Inf, MinOpen: true),
        ["--contamination"] = new(0, 1, MaxOpen: true),
        ["--latent"] = new(1, 65536),
        ["--beta"] = new(0, Inf),
        ["--beta1"] = new(0, 1, MaxOpen: true),
        ["--recon-weight"] = new(0, Inf),
        ["--latent-dim"] = new(1, 4096),
    };

    public static void Validate(ParseResult r)
    {
        foreach (var option in r.CommandResult.Command.Options)
        {
            double? value = option switch
            {
                Option<float> o => r.GetValue(o),
                Option<float?> o => r.GetValue(o),
                Option<double> o => r.GetValue(o),
                Option<double?> o => r.GetValue(o),
                Option<int> o => r.GetValue(o),
                Option<int?> o => r.GetValue(o),
                Option<long> o => r.GetValue(o),
                Option<long?> o => r.GetValue(o),
                _ => null,
            };
            if (value is not double v) continue;
            string shown = v.ToString(CultureInfo.InvariantCulture);
            if (!double.IsFinite(v)) throw new UserError($"{option.Name} must be a finite number, got {shown}");
            if (Ranges.TryGetValue(option.Name, out var range) && !range.Contains(v))
                throw new UserError($"{option.Name} must be {range.Describe()}, got {shown}");
        }
    }
}
