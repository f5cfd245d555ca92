using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Smp.Cli;

/// <summary>
/// Option builders the subcommands share. Each parser's error starts with the option's name, so that
/// <see cref="CliErrors"/> can put the real source (flag, environment variable or file key) in its place.
/// </summary>
internal static class CliOptions
{
    private static readonly (string Name, LogLevel Level)[] LogLevels =
    [
        ("trace", Microsoft.Extensions.Logging.LogLevel.Trace), ("debug", Microsoft.Extensions.Logging.LogLevel.Debug),
        ("information", Microsoft.Extensions.Logging.LogLevel.Information), ("info", Microsoft.Extensions.Logging.LogLevel.Information),
        ("warning", Microsoft.Extensions.Logging.LogLevel.Warning), ("warn", Microsoft.Extensions.Logging.LogLevel.Warning),
        ("error", Microsoft.Extensions.Logging.LogLevel.Error), ("critical", Microsoft.Extensions.Logging.LogLevel.Critical),
        ("none", Microsoft.Extensions.Logging.LogLevel.None),
    ];

    /// <summary><c>--log-level</c>: trace, debug, information, warning, error, critical or none.</summary>
    public static Option<CliLogLevel> LogLevel() => new("--log-level")
    {
        Description = "Logging threshold: trace, debug, information, warning, error, critical or none. Queue ids, keys and message bodies are never logged at information or above.",
        DefaultValueFactory = _ => new CliLogLevel(Microsoft.Extensions.Logging.LogLevel.Information, "information"),
        CustomParser = r =>
        {
            var text = Token(r);
            foreach (var (name, level) in LogLevels)
                if (string.Equals(name, text, StringComparison.OrdinalIgnoreCase)) return new CliLogLevel(level, name);
            r.AddError($"--log-level must be trace, debug, information, warning, error, critical or none, not '{text}'");
            return new CliLogLevel(Microsoft.Extensions.Logging.LogLevel.Information, "information");
        },
        HelpName = "level",
    };

    /// <summary><c>--port</c>, <c>-p</c>: a TCP port, 0 for one the system picks.</summary>
    public static Option<int> Port(string description, int defaultValue) =>
        Int("--port", description, defaultValue, 0, 65535, "port", "-p");

    /// <summary>A whole number within [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static Option<int> Int(string name, string description, int defaultValue, int min, int max, string helpName, params string[] aliases) =>
        new(name, aliases)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r =>
            {
                var text = Token(r);
                var range = max == int.MaxValue
                    ? string.Create(CultureInfo.InvariantCulture, $"at least {min}")
                    : string.Create(CultureInfo.InvariantCulture, $"between {min} and {max}");
                if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
                    r.AddError($"{name} must be a whole number {range}, not '{text}'");
                else if (n < min || n > max)
                    r.AddError($"{name} must be {range}, not '{text}'");
                else
                    return (int)n;
                return defaultValue;
            },
            HelpName = helpName,
        };

    /// <summary><c>--bind</c>: the address a listener binds.</summary>
    public static Option<IPAddress> Bind(string description, IPAddress defaultValue) => new("--bind")
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = r =>
        {
            var text = Token(r);
            if (IPAddress.TryParse(text, out var address)) return address;
            r.AddError($"--bind must be an IP address such as 127.0.0.1, 0.0.0.0 or ::, not '{text}'");
            return defaultValue;
        },
        HelpName = "addr",
    };

    /// <summary>A duration longer than zero and at most <paramref name="max"/> (default: ten years).</summary>
    public static Option<CliDuration> Duration(string name, string description, TimeSpan defaultValue, TimeSpan? max = null) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => new CliDuration(defaultValue),
        CustomParser = r =>
        {
            var text = Token(r);
            var limit = max ?? TimeSpan.FromDays(3650);
            if (!CliDuration.TryParse(text, out var value))
                r.AddError($"{name} must be a duration such as 30d, 12h, 90m, 45s or 500ms, not '{text}'");
            else if (value <= TimeSpan.Zero)
                r.AddError($"{name} must be longer than 0, not '{text}'");
            else if (value > limit)
                r.AddError($"{name} must be at most {CliDuration.Format(limit)}, not '{text}'");
            else
                return new CliDuration(value);
            return new CliDuration(defaultValue);
        },
        HelpName = "duration",
    };

    private static string Token(ArgumentResult r) => r.Tokens.Count > 0 ? r.Tokens[0].Value : "";

    public static ILoggerFactory CreateLoggerFactory(CliLogLevel level) => LoggerFactory.Create(b => b
        .SetMinimumLevel(level.Level)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-dd HH:mm:ss ";
            o.UseUtcTimestamp = true;
        })
        // Logs go to stderr so that stdout carries only what scripts read (the server address).
        .AddConsole(o => o.LogToStandardErrorThreshold = Microsoft.Extensions.Logging.LogLevel.Trace));
}
