namespace NativeVq.Anomaly.Metrics;

/// <summary>
/// The shared engine of every ranking metric: positives' and negatives' keys are sorted separately
/// (<see cref="SortKeys"/>), then merged from the top score down, visiting each DISTINCT threshold once with the
/// cumulative true/false positive counts of the rule "score ≥ threshold". Ties therefore move TP and FP together,
/// which is what makes the trapezoidal ROC area equal the Mann–Whitney U statistic with average ranks.
/// </summary>
internal static class BinaryCurve
{
    /// <summary>Splits scores by label into key arrays (NaN refused: a NaN score has no rank).</summary>
    public static (uint[] Pos, uint[] Neg) Split(ReadOnlySpan<float> scores, ReadOnlySpan<bool> labels)
    {
        if (scores.Length != labels.Length) throw new ArgumentException($"{scores.Length} scores but {labels.Length} labels");
        int p = 0;
        foreach (var l in labels) if (l) p++;
        var pos = new uint[p];
        var neg = new uint[scores.Length - p];
        int a = 0, b = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            float s = scores[i];
            if (float.IsNaN(s)) throw new ArgumentException($"score {i} is NaN");
            if (labels[i]) pos[a++] = SortKeys.Key(s); else neg[b++] = SortKeys.Key(s);
        }
        return (pos, neg);
    }

    /// <summary>Sorts both arrays and sweeps them (see <see cref="Summarize(uint[], uint[], int)"/>).</summary>
    public static CurveSummary Summarize(ReadOnlySpan<float> scores, ReadOnlySpan<bool> labels, int rocPoints)
    {
        var (pos, neg) = Split(scores, labels);
        SortKeys.Sort(pos, pos.Length);
        SortKeys.Sort(neg, neg.Length);
        return Summarize(pos, neg, rocPoints);
    }

    /// <summary>
    /// AUROC, AP, F1-max and ROC points from ascending-sorted keys. <paramref name="rocPoints"/> ≤ 0 keeps every
    /// distinct threshold; otherwise the ROC is thinned to about that many points (a point is kept when FPR or TPR
    /// moved by ≥ 1/rocPoints since the last kept one; the end points are always kept).
    /// </summary>
    public static CurveSummary Summarize(uint[] pos, uint[] neg, int rocPoints)
    {
        long P = pos.Length, N = neg.Length;
        int i = pos.Length - 1, j = neg.Length - 1;
        long tp = 0, fp = 0, prevTp = 0, prevFp = 0;
        // Twice the ROC area in units of 1/(P·N): Σ Δfp·(tp + tp_prev). Exact in integers (≤ 2·P·N < 2^63).
        long area2 = 0;
        double ap = 0, bestF1 = 0, bestT = double.NaN;
        var fpr = new List<double> { 0 };
        var tpr = new List<double> { 0 };
        var thr = new List<float> { float.PositiveInfinity };
        long keptTp = 0, keptFp = 0;
        bool thin = rocPoints > 0;
        while (i >= 0 || j >= 0)
        {
            uint k = i < 0 ? neg[j] : j < 0 ? pos[i] : Math.Max(pos[i], neg[j]);
            while (i >= 0 && pos[i] == k) { tp++; i--; }
            while (j >= 0 && neg[j] == k) { fp++; j--; }
            area2 += (fp - prevFp) * (tp + prevTp);
            if (tp != prevTp) ap += (tp - prevTp) * ((double)tp / (tp + fp)); // Σ ΔTP·precision, divided by P at the end
            if (P > 0)
            {
                double f1 = 2.0 * tp / (tp + fp + P);
                if (f1 > bestF1) { bestF1 = f1; bestT = SortKeys.Value(k); }
            }
            bool last = i < 0 && j < 0;
            if (!thin || last || (tp - keptTp) * rocPoints >= P || (fp - keptFp) * rocPoints >= N)
            {
                fpr.Add(N == 0 ? double.NaN : (double)fp / N);
                tpr.Add(P == 0 ? double.NaN : (double)tp / P);
                thr.Add(SortKeys.Value(k));
                keptTp = tp; keptFp = fp;
            }
            prevTp = tp; prevFp = fp;
        }
        bool defined = P > 0 && N > 0;
        double auroc = defined ? area2 / (2.0 * P * N) : double.NaN;
        return new CurveSummary(P + N, P, auroc, P > 0 ? ap / P : double.NaN, P > 0 ? bestF1 : double.NaN, bestT,
            new RocCurve([.. fpr], [.. tpr], [.. thr]));
    }

    /// <summary>Counts at a fixed threshold (anomalous when score ≥ threshold).</summary>
    public static ThresholdResult At(ReadOnlySpan<float> scores, ReadOnlySpan<bool> labels, double threshold)
    {
        if (scores.Length != labels.Length) throw new ArgumentException($"{scores.Length} scores but {labels.Length} labels");
        long tp = 0, fp = 0, tn = 0, fn = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            bool pred = scores[i] >= threshold;
            if (labels[i]) { if (pred) tp++; else fn++; }
            else { if (pred) fp++; else tn++; }
        }
        return new ThresholdResult(threshold, tp, fp, tn, fn);
    }
}
