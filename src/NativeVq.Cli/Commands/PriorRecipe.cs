using NativeVq.Data;

namespace NativeVq.Cli.Commands;

/// <summary>
/// The regularisation settings of `train prior` that come as a set: the measured defaults (issue 13's ablation,
/// docs/results.md) and the seeds' exact recipe (MOOD / the PyTorch peer: plain Adam, constant rate, no dropout,
/// no augmentation, the last epoch's weights). Each option given on the command line overrides its recipe value.
/// </summary>
internal sealed record PriorRecipe(int Epochs, string Schedule, float Dropout, float WeightDecay, int Patience, bool KeepBest, string Augment, int AugmentCopies)
{
    public static readonly PriorRecipe Seeds = new(30, "none", 0f, 0f, 0, false, "none", 0);

    public static readonly PriorRecipe Default = new(30, "cosine", 0.1f, 0.01f, 0, true, "auto", 4);

    public static PriorRecipe Named(string name) => name switch
    {
        "default" => Default,
        "seeds" => Seeds,
        _ => throw new UserError($"--recipe must be default or seeds, got '{name}'"),
    };

    /// <summary>The augmentation to use for data of <paramref name="format"/> at <paramref name="size"/> px ("auto": by format).</summary>
    public static AugmentOptions ResolveAugment(string text, string format, int size) =>
        text == "auto" ? AugmentOptions.ForFormat(format, size) : AugmentOptions.Parse(text);
}
