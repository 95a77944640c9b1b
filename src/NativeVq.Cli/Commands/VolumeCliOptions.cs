using System.CommandLine;
using System.Globalization;
using NativeVq.Data.Volumes;

namespace NativeVq.Cli.Commands;

/// <summary>How NIfTI volumes become slices (training, scoring, eval on volumes); see docs/volumes.md.</summary>
internal sealed class VolumeCliOptions
{
    public Option<int> SliceAxis { get; } = new("--slice-axis") { Description = "NIfTI volumes: cut 2D slices across this axis, 0 (x), 1 (y) or 2 (z, the last).", DefaultValueFactory = _ => 2 };
    public Option<double> ClipLow { get; } = new("--clip-low") { Description = "NIfTI volumes: per-volume intensity window, lower percentile (values at or below it become -1).", DefaultValueFactory = _ => 0.5 };
    public Option<double> ClipHigh { get; } = new("--clip-high") { Description = "NIfTI volumes: per-volume intensity window, upper percentile (values at or above it become +1).", DefaultValueFactory = _ => 99.5 };
    public Option<bool> SkipEmpty { get; } = new("--skip-empty-slices") { Description = "NIfTI volumes: leave out slices with nothing above the lower clip value (all background); when scoring, their voxels score 0." };
    public Option<long> MaxVoxels { get; } = new("--max-voxels") { Description = "NIfTI volumes: refuse volumes with more voxels than this before reading their data.", DefaultValueFactory = _ => NiftiFile.DefaultMaxVoxels };

    public void AddTo(Command c)
    {
        foreach (var o in new Option[] { SliceAxis, ClipLow, ClipHigh, SkipEmpty, MaxVoxels }) c.Options.Add(o);
    }

    public VolumeOptions Options(ParseResult r)
    {
        var o = new VolumeOptions
        {
            Axis = r.GetValue(SliceAxis),
            ClipLow = r.GetValue(ClipLow),
            ClipHigh = r.GetValue(ClipHigh),
            SkipEmpty = r.GetValue(SkipEmpty),
            MaxVoxels = r.GetValue(MaxVoxels),
        };
        o.Validate();
        return o;
    }

    /// <summary>What the slices depend on (part of the code cache's key).</summary>
    public string Key(ParseResult r) => string.Create(CultureInfo.InvariantCulture,
        $"axis {r.GetValue(SliceAxis)} clip {r.GetValue(ClipLow)}-{r.GetValue(ClipHigh)} skip-empty {r.GetValue(SkipEmpty)}");
}
