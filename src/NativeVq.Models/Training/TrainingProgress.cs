namespace NativeVq.Models.Training;

/// <summary>
/// One report of a long stage (a training epoch, an encoding pass): after every batch (<see cref="Finished"/> false,
/// <see cref="Figures"/> the running means) and once at the stage's end (true, with its summary). Lower layers report
/// these; only the CLI draws them. <see cref="Seconds"/> is the time since the stage began, so a drawer that starts
/// at the first report still shows the stage's throughput and ETA.
/// </summary>
public sealed record TrainingProgress(string Label, int Done, int Total, long Items, string Figures, bool Finished, double Seconds);
