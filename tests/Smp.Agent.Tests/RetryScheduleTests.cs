using Smp.Agent.Jobs;

namespace Smp.Agent.Tests;

/// <summary>The retry schedule's attempt count (Outbox.AttemptsWithin), a closed form checked against summing the delays.</summary>
public sealed class RetryScheduleTests
{
    /// <summary>The count the slow way: add delays ×1.5 from <paramref name="initialMs"/>, capped, until the span is covered.</summary>
    private static long Summed(double spanMs, double initialMs, double capMs)
    {
        var (total, n, d) = (0.0, 0L, initialMs);
        while (total < spanMs)
        {
            total += Math.Min(d, capMs);
            d *= 1.5;
            n++;
        }
        return Math.Max(8, n);
    }

    [Theory]
    [InlineData(7 * 24 * 3600_000.0, 10, 30_000)]     // HELLO defaults: a week, 10 ms, 30 s
    [InlineData(7 * 24 * 3600_000.0, 100, 30_000)]
    [InlineData(7 * 24 * 3600_000.0, 20, 500)]        // test options
    [InlineData(1_000, 10, 30_000)]                   // span ends in the geometric part
    [InlineData(50, 10, 30_000)]                      // fewer than the minimum of 8
    [InlineData(3600_000, 60_000, 30_000)]            // initial above the cap
    public void The_closed_form_gives_the_count_of_summed_delays(double spanMs, double initialMs, double capMs)
    {
        var closed = Outbox.AttemptsWithin(TimeSpan.FromMilliseconds(spanMs), TimeSpan.FromMilliseconds(initialMs), TimeSpan.FromMilliseconds(capMs));
        Assert.InRange(closed, Summed(spanMs, initialMs, capMs) - 1, Summed(spanMs, initialMs, capMs) + 1);
    }

    [Fact]
    public void A_huge_span_is_bounded_rather_than_overflowing()
    {
        Assert.Equal(int.MaxValue / 2, Outbox.AttemptsWithin(TimeSpan.MaxValue, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1)));
    }
}
