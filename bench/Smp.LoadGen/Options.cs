using System.Globalization;

namespace Smp.LoadGen;

/// <summary><c>--name value</c> pairs; every option a scenario does not read is reported, so a typo is not silently ignored.</summary>
internal sealed class Options
{
    private readonly Dictionary<string, string> _values = [];
    private readonly HashSet<string> _read = [];

    public Options(IEnumerable<string> args)
    {
        string? name = null;
        foreach (var a in args)
        {
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                if (name is not null) _values[name] = "true";
                name = a[2..];
            }
            else if (name is not null)
            {
                _values[name] = a;
                name = null;
            }
            else throw new ArgumentException($"unexpected argument {a}");
        }
        if (name is not null) _values[name] = "true";
    }

    public string? Text(string name)
    {
        _read.Add(name);
        return _values.GetValueOrDefault(name);
    }

    public int Int(string name, int fallback) => Text(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public bool Flag(string name, bool fallback) => Text(name) is { } v ? bool.Parse(v) : fallback;

    /// <summary>Seconds, fractions allowed.</summary>
    public TimeSpan Time(string name, TimeSpan fallback) =>
        Text(name) is { } v ? TimeSpan.FromSeconds(double.Parse(v, CultureInfo.InvariantCulture)) : fallback;

    public void ThrowIfUnused()
    {
        var unused = _values.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unused.Count > 0) Console.Error.WriteLine($"warning: options not used by this scenario: {string.Join(", ", unused)}");
    }
}
