using System.Globalization;

namespace Smp.Cli;

/// <summary>
/// A duration as the CLI reads and shows it: <c>30d</c>, <c>12h</c>, <c>90m</c>, <c>45s</c>, <c>500ms</c>
/// (or <c>d.hh:mm:ss</c> on input). Its own type so that <c>--help</c> shows defaults as <c>30d</c>,
/// not as <c>30.00:00:00</c>; it converts to <see cref="TimeSpan"/> where options are used.
/// </summary>
internal readonly record struct CliDuration(TimeSpan Value)
{
    private static readonly (string Suffix, long Ticks)[] Units =
    [
        ("d", TimeSpan.TicksPerDay), ("h", TimeSpan.TicksPerHour), ("m", TimeSpan.TicksPerMinute),
        ("s", TimeSpan.TicksPerSecond), ("ms", TimeSpan.TicksPerMillisecond),
    ];

    public static implicit operator TimeSpan(CliDuration d) => d.Value;

    public TimeSpan ToTimeSpan() => Value;

    public override string ToString() => Format(Value);

    /// <summary>The largest unit that states <paramref name="value"/> exactly: 90 minutes is <c>90m</c>, 36 hours <c>36h</c>.</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero) return "0s";
        var sign = value < TimeSpan.Zero ? "-" : "";
        var ticks = Math.Abs(value.Ticks);
        foreach (var (suffix, unit) in Units)
            if (ticks % unit == 0) return string.Create(CultureInfo.InvariantCulture, $"{sign}{ticks / unit}{suffix}");
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{ticks / (double)TimeSpan.TicksPerMillisecond:0.####}ms");
    }

    /// <summary>Reads <c>30d</c>, <c>12h</c>, <c>90m</c>, <c>45s</c>, <c>500ms</c>, <c>1.5h</c> or <c>[d.]hh:mm:ss</c>; false for anything else, a bare number or too long.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        text = text?.Trim() ?? "";
        // "ms" before "m" and "s": the longest suffix that fits wins.
        foreach (var (suffix, unit) in Units.OrderByDescending(u => u.Suffix.Length))
        {
            if (!text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) continue;
            var number = text[..^suffix.Length];
            if (number.Length == 0 || !char.IsAsciiDigit(number[^1])) continue;
            if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)) return false;
            var ticks = n * unit;
            if (ticks >= TimeSpan.MaxValue.Ticks) return false;
            value = TimeSpan.FromTicks((long)Math.Round(ticks));
            return true;
        }
        // A bare number would be read as days by TimeSpan: "--handshake-timeout 5" must not mean five days.
        return text.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value);
    }
}
