using System.Globalization;
using System.Text.RegularExpressions;

namespace NativeVq.Cli.Commands;

/// <summary>
/// `--shard I/N`: part I (0-based) of N of the sorted input list, for scoring one input on several machines.
/// Part I is the contiguous index range [⌊I·count/N⌋, ⌊(I+1)·count/N⌋) of the list in its sorted order, so the parts
/// are disjoint, cover every image, depend only on the list, and concatenated in order give the unsharded order.
/// `auto/N` takes I from JOB_COMPLETION_INDEX, which a Kubernetes Indexed Job sets in each pod.
/// </summary>
internal readonly partial record struct Shard(int Index, int Count)
{
    public const string IndexVariable = "JOB_COMPLETION_INDEX";

    /// <summary>Null for no option; a <see cref="UserError"/> for anything but I/N or auto/N with 0 ≤ I &lt; N.</summary>
    public static Shard? Parse(string? value, Func<string, string?> environment)
    {
        if (value is null) return null;
        var m = Spec().Match(value);
        if (!m.Success) throw new UserError($"--shard must be I/N (part I of N, 0 ≤ I < N, e.g. 0/4) or auto/N, got '{value}'");
        if (!int.TryParse(m.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1)
            throw new UserError($"--shard {value}: N must be a whole number of at least 1");
        int index;
        if (m.Groups[1].Value == "auto")
        {
            var env = environment(IndexVariable);
            if (string.IsNullOrWhiteSpace(env))
                throw new UserError($"--shard {value} reads the part from {IndexVariable} (set by a Kubernetes Indexed Job), which is not set");
            if (!int.TryParse(env.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out index) || index >= n)
                throw new UserError($"--shard {value}: {IndexVariable} is '{env}', expected a whole number from 0 to {n - 1}");
        }
        else if (!int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out index) || index >= n)
            throw new UserError($"--shard {value}: the part must be from 0 to {n - 1} (parts are numbered from 0)");
        return new Shard(index, n);
    }

    /// <summary>The index range [Start, End) of this part in a list of <paramref name="items"/>.</summary>
    public (int Start, int End) RangeOf(int items) => ((int)((long)Index * items / Count), (int)((long)(Index + 1) * items / Count));

    [GeneratedRegex(@"^(auto|[0-9]+)/([0-9]+)$")]
    private static partial Regex Spec();
}
