namespace NativeVq.Kernels;

/// <summary>
/// Marks an explicitly grouped kernel (launched with a KernelConfig; it reads Grid/Group indices and may use shared
/// memory and barriers) so PtxCompileTests compiles it as one; implicitly grouped kernels take an Index as first parameter.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class GroupedKernelAttribute : Attribute;
