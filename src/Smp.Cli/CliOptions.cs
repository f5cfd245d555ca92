using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Smp.Cli;

/// <summary>Parsers and helpers the subcommands share.</summary>
internal static class CliOptions
{
    /// <summary><c>--log-level</c>: trace, debug, information, warning, error, critical or none.</summary>
    public static Option<LogLevel> LogLevel() => new("--log-level")
    {
        Description = "Logging threshold: trace, debug, information, warning, error, critical or none. Queue ids, keys and message bodies are never logged at information or above.",
        DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Information,
        HelpName = "level",
    };

    /// <summary>Durations like <c>30d</c>, <c>12h</c>, <c>90m</c>, <c>45s</c>, <c>500ms</c> or <c>d.hh:mm:ss</c>.</summary>
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        text = text.Trim();
        (string Suffix, double Scale)[] units = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)];
        foreach (var (suffix, scale) in units)
        {
            if (!text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)) continue;
            var number = text[..^suffix.Length];
            if (number.Length == 0 || !char.IsAsciiDigit(number[^1])) continue;
            if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)) return false;
            value = TimeSpan.FromSeconds(n * scale);
            return true;
        }
        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value);
    }

    /// <summary><c>--bind</c>: the address a listener binds.</summary>
    public static Option<System.Net.IPAddress> Bind(string description, System.Net.IPAddress defaultValue) => new("--bind")
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r =>
        {
            var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
            if (System.Net.IPAddress.TryParse(text, out var address)) return address;
            r.AddError($"'{text}' is not an IP address");
            return defaultValue;
        },
        HelpName = "addr",
    };

    public static Option<TimeSpan> Duration(string name, string description, TimeSpan defaultValue) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = ParseDuration,
        HelpName = "duration",
    };

    public static TimeSpan ParseDuration(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (TryParseDuration(text, out var value) && value > TimeSpan.Zero) return value;
        result.AddError($"'{text}' is not a duration (e.g. 30d, 12h, 90m, 45s, 500ms)");
        return default;
    }

    public static ILoggerFactory CreateLoggerFactory(LogLevel level) => LoggerFactory.Create(b => b
        .SetMinimumLevel(level)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-dd HH:mm:ss ";
            o.UseUtcTimestamp = true;
        })
        // Logs go to stderr so that stdout carries only what scripts read (the server address).
        .AddConsole(o => o.LogToStandardErrorThreshold = Microsoft.Extensions.Logging.LogLevel.Trace));
}
