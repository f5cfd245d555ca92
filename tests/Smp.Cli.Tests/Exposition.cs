using System.Globalization;

namespace Smp.Cli.Tests;

/// <summary>Reading Prometheus text format as a scraper would.</summary>
internal static class Exposition
{
    /// <summary>The value of the one sample of <paramref name="name"/> whose labels contain <paramref name="label"/> (e.g. <c>state="up"</c>).</summary>
    public static double Value(string exposition, string name, string? label = null)
    {
        var line = Assert.Single(exposition.Split('\n'), l =>
            (l.StartsWith(name + "{", StringComparison.Ordinal) || l.StartsWith(name + " ", StringComparison.Ordinal))
            && (label is null || l.Contains(label, StringComparison.Ordinal)));
        return double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }
}
