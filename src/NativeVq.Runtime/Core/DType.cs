namespace NativeVq;

/// <summary>Element type of a tensor: fp32 for activations and weights, int32 for code indices and targets.</summary>
public enum DType { F32, I32 }
