namespace NativeVq.Models;

/// <summary>
/// PixelSNAIL prior sizes (design.md §1.2). The defaults are the peer's small prior
/// (shared/peer/torch_vqvae_pixelsnail.py, 723,664 parameters for K = 128 on an 8x8 grid), so figures and golden
/// weights compare one to one. <see cref="Larger"/> is the preset for 16x16 and larger latent grids.
/// </summary>
public sealed record PixelSnailConfig
{
    /// <summary>Number of codes K (one-hot input channels and logits per position).</summary>
    public int Codes { get; init; } = 128;
    /// <summary>Latent grid the positional background buffer is registered for (other grids build their own).</summary>
    public int Height { get; init; } = 8;
    public int Width { get; init; } = 8;
    /// <summary>Feature channels C of the residual stream.</summary>
    public int Channels { get; init; } = 64;
    /// <summary>Kernel size k (odd) of the masked k×k convs inside the gated res blocks (peer: 3).</summary>
    public int KernelSize { get; init; } = 3;
    /// <summary>Stem kernel k (odd): down conv [k/2, k], down-right conv [k/2+1, k/2] (peer: 5 → [2,5] and [3,2]).</summary>
    public int StemKernelSize { get; init; } = 5;
    /// <summary>Stages (n_block): each is n_res_block gated res blocks followed by attention.</summary>
    public int Blocks { get; init; } = 2;
    /// <summary>Gated res blocks per stage (n_res_block).</summary>
    public int ResBlocks { get; init; } = 2;
    /// <summary>Causal self-attention in every stage (peer: on). Off = stages of masked-conv res blocks only.</summary>
    public bool Attention { get; init; } = true;
    /// <summary>Attention heads; must divide <see cref="KeyDim"/> and <see cref="ValueDim"/>.</summary>
    public int Heads { get; init; } = 1;
    /// <summary>Mask t &lt; s instead of t ≤ s (the first position then attends to nothing and gets 0).</summary>
    public bool StrictAttention { get; init; }
    public int KeyDim { get; init; } = 16;
    public int ValueDim { get; init; } = 64;
    /// <summary>Dropout inside the gated res blocks (after the second ELU), training only. Peer: 0.</summary>
    public float Dropout { get; init; }

    /// <summary>Parameters as in the peer (the defaults) for K codes on an h×w grid.</summary>
    public static PixelSnailConfig ForGrid(int codes, int height, int width) =>
        height >= 16 || width >= 16 ? Larger(codes, height, width) : new PixelSnailConfig { Codes = codes, Height = height, Width = width };

    /// <summary>Preset for 16x16+ latents: 4 stages × 4 res blocks, 128 channels, attention key 16 / value 128.</summary>
    public static PixelSnailConfig Larger(int codes, int height, int width) => new()
    {
        Codes = codes, Height = height, Width = width, Channels = 128, Blocks = 4, ResBlocks = 4, KeyDim = 16, ValueDim = 128,
    };

    /// <summary>Throws a <see cref="UserError"/> naming the option that is out of range.</summary>
    public void Validate()
    {
        if (Codes < 2) throw new UserError($"--codes must be at least 2, got {Codes}");
        if (Height < 1 || Width < 1) throw new UserError($"the prior's latent grid must be at least 1x1, got {Height}x{Width}");
        if (Channels < 1) throw new UserError($"--prior-channels must be positive, got {Channels}");
        if (KernelSize < 1 || KernelSize % 2 == 0) throw new UserError($"--prior-kernel must be an odd size ≥ 1, got {KernelSize}");
        if (StemKernelSize < 3 || StemKernelSize % 2 == 0) throw new UserError($"--prior-stem-kernel must be an odd size ≥ 3, got {StemKernelSize}");
        if (Blocks < 1) throw new UserError($"--prior-blocks must be at least 1, got {Blocks}");
        if (ResBlocks < 0) throw new UserError($"--prior-res-blocks must be ≥ 0, got {ResBlocks}");
        if (Attention)
        {
            if (KeyDim < 1) throw new UserError($"--prior-key-dim must be positive, got {KeyDim}");
            if (ValueDim < 1) throw new UserError($"--prior-value-dim must be positive, got {ValueDim}");
            if (Heads < 1 || KeyDim % Heads != 0 || ValueDim % Heads != 0)
                throw new UserError($"--prior-heads {Heads} must be ≥ 1 and divide the key dim {KeyDim} and the value dim {ValueDim}");
        }
        if (!(Dropout >= 0f && Dropout < 1f)) throw new UserError($"--prior-dropout must be in [0, 1), got {Dropout}");
    }
}
