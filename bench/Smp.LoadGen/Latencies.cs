using System.Diagnostics;
using System.Globalization;

namespace Smp.LoadGen;

/// <summary>Latency samples in Stopwatch ticks; percentiles by nearest rank over the sorted samples.</summary>
internal sealed class Latencies
{
    private readonly List<long> _ticks = [];
    private readonly Lock _lock = new();

    public int Count
    {
        get
        {
            lock (_lock) return _ticks.Count;
        }
    }

    public void Add(long ticks)
    {
        lock (_lock) _ticks.Add(ticks);
    }

    public void AddSince(long startTimestamp) => Add(Stopwatch.GetTimestamp() - startTimestamp);

    public double Ms(double percentile)
    {
        long[] sorted;
        lock (_lock) sorted = [.. _ticks];
        if (sorted.Length == 0) return double.NaN;
        Array.Sort(sorted);
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)] * 1000.0 / Stopwatch.Frequency;
    }

    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"n={Count} p50={Ms(50):F2} ms p90={Ms(90):F2} ms p99={Ms(99):F2} ms max={Ms(100):F2} ms");
}

internal static class Report
{
    public static void Line(string label, FormattableString value) =>
        Console.WriteLine($"{label,-34} {value.ToString(CultureInfo.InvariantCulture)}");

    public static double Seconds(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;

    /// <summary>Managed heap after a full blocking collection, and the process working set.</summary>
    public static (long Heap, long WorkingSet) Memory()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var heap = GC.GetTotalMemory(forceFullCollection: true);
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return (heap, self.WorkingSet64);
    }
}
