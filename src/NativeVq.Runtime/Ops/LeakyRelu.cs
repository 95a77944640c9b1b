namespace NativeVq;

public static partial class F
{
    /// <summary>torch F.leaky_relu(x, negative_slope): x for x &gt; 0, slope·x otherwise (DCGAN's discriminator uses 0.2).</summary>
    public static Tensor LeakyRelu(Tensor x, float slope)
    {
        var y = Tensor.Empty(x.Backend, x.Shape);
        x.Backend.LeakyRelu(x, y, slope);
        Autograd.Record("leaky_relu", y, [x], g => x.Backend.LeakyReluBackward(x, g, x.GradOrZeros(), slope));
        return y;
    }
}
