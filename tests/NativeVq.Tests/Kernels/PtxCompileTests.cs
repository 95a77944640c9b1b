using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using NativeVq.Kernels;

namespace NativeVq.Tests.Kernels;

/// <summary>
/// Compiles every ILGPU kernel to PTX for sm_70 and sm_90 with ILGPU's PTX backend. No GPU or driver is
/// needed, so a kernel that could not build for CUDA fails CI here. Kernels are found by reflection:
/// every public static method of the Kernels assembly whose first parameter is an ILGPU index (implicitly grouped),
/// and every one marked [GroupedKernel] (explicitly grouped: shared memory, barriers).
/// </summary>
public sealed class PtxCompileTests
{
    public static IEnumerable<object[]> KernelMethods() =>
        AllKernels().Select(m => new object[] { m.DeclaringType!.Name + "." + m.Name });

    internal static IEnumerable<MethodInfo> AllKernels() =>
        typeof(ElementwiseKernels).Assembly.GetTypes()
            .Where(t => t.IsClass && t.IsAbstract && t.IsSealed) // static classes
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Where(m => IsGrouped(m) || (m.GetParameters() is [var p, ..] && (p.ParameterType == typeof(Index1D) || p.ParameterType == typeof(Index2D) || p.ParameterType == typeof(Index3D))))
            .OrderBy(m => m.DeclaringType!.Name).ThenBy(m => m.Name);

    private static bool IsGrouped(MethodInfo m) => m.GetCustomAttribute<GroupedKernelAttribute>() != null;

    [Fact]
    public void EveryKernelFamilyIsFound()
    {
        var families = AllKernels().Select(m => m.DeclaringType!.Name).Distinct().ToList();
        Assert.Contains("ElementwiseKernels", families);
        Assert.Contains("GemmKernels", families);
        Assert.Contains("TiledGemmKernels", families);
    }

    private static string Ptx(Context context, MethodInfo method, CudaArchitecture arch)
    {
        using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_80, null);
        var entry = IsGrouped(method) ? EntryPointDescription.FromExplicitlyGroupedKernel(method) : EntryPointDescription.FromImplicitlyGroupedKernel(method);
        return ((PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization())).PTXAssembly;
    }

    [Theory]
    [MemberData(nameof(KernelMethods))]
    public void CompilesToPtx(string kernel)
    {
        var method = AllKernels().Single(m => m.DeclaringType!.Name + "." + m.Name == kernel);
        using var context = Context.Create(b => b.Cuda().EnableAlgorithms());
        foreach (var arch in new[] { CudaArchitecture.SM_70, CudaArchitecture.SM_90 })
        {
            var ptx = Ptx(context, method, arch);
            Assert.Contains(".entry", ptx);
            // ILGPU 1.5.3 emits at most ".target sm_80" even when sm_90 is asked for; PTX is forward
            // compatible, so the driver JIT-compiles that for Hopper. Check the target is sane and not above the ask.
            var target = System.Text.RegularExpressions.Regex.Match(ptx, @"\.target sm_(\d+)");
            Assert.True(target.Success, "no .target line in the PTX");
            int sm = int.Parse(target.Groups[1].Value);
            Assert.InRange(sm, 70, arch.Major * 10 + arch.Minor);
        }
    }

    /// <summary>
    /// The register-blocked kernels keep their accumulators (a MicroTile struct, sources and sinks passed as generic
    /// structs) in registers: a struct that ILGPU failed to break into SSA values would spill to local memory,
    /// which on a GPU is DRAM and would cost most of the tiling's gain. Compiled with O2 as the cuda backend does.
    /// </summary>
    [Theory]
    [InlineData("TiledGemmKernels.Gemm")]
    [InlineData("TiledConvKernels.Forward")]
    [InlineData("TiledConvKernels.BackwardInput")]
    [InlineData("TiledConvKernels.BackwardWeightSplit")]
    [InlineData("TiledConvTransposeKernels.PhaseGather")]
    [InlineData("TiledMaskedConvKernels.Forward")]
    [InlineData("TiledMaskedConvKernels.BackwardInput")]
    [InlineData("TiledMaskedConvKernels.BackwardWeightSplit")]
    [InlineData("TiledCodebookKernels.NearestCode")]
    [InlineData("AttentionKernels.FusedCausal")]
    public void RegisterBlockedKernelsUseNoLocalMemory(string kernel)
    {
        var method = AllKernels().Single(m => m.DeclaringType!.Name + "." + m.Name == kernel);
        using var context = Context.Create(b => b.Cuda().EnableAlgorithms().Optimize(OptimizationLevel.O2));
        var ptx = Ptx(context, method, CudaArchitecture.SM_90);
        Assert.DoesNotContain("ld.local", ptx);
        Assert.DoesNotContain("st.local", ptx);
        Assert.DoesNotContain("call", ptx);
    }
}
