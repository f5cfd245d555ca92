using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace Smp.Cli;

/// <summary>
/// Parse errors in plain words, one line each, naming where the bad value came from: the flag, the
/// environment variable or the configuration file and key. The parser library's own messages (shown for
/// options without a parser of ours, such as ones added later) name .NET types and span lines; they are
/// rewritten from the option they concern. Its resources are English only (SatelliteResourceLanguages).
/// </summary>
internal static partial class CliErrors
{
    public static string Describe(ParseError error, IReadOnlyDictionary<Option, string> sources)
    {
        var option = OptionOf(error.SymbolResult);
        var text = OneLine(option is null ? PlainCommandError(error) : PlainOptionError(error.Message, option));
        if (option is null) return text;
        var label = sources.TryGetValue(option, out var source) ? source : option.Name;
        if (text.StartsWith(option.Name + " ", StringComparison.Ordinal)) return label + text[option.Name.Length..];
        return $"{label}: {text}";
    }

    /// <summary>Whether the error is about something typed (and --help would help), not a variable or file key.</summary>
    public static bool IsFromCommandLine(ParseError error, IReadOnlyDictionary<Option, string> sources) =>
        OptionOf(error.SymbolResult) is not { } option || !sources.TryGetValue(option, out var source) || source == option.Name;

    private static Option? OptionOf(SymbolResult? result) => result switch
    {
        OptionResult o => o.Option,
        ArgumentResult { Parent: OptionResult o } => o.Option,
        _ => null,
    };

    private static string PlainOptionError(string message, Option option)
    {
        if (CannotParse().Match(message) is { Success: true } parse)
            return $"{option.Name} must be {Kind(option)}, not '{parse.Groups["value"].Value}'";
        if (NotAmong().Match(message) is { Success: true } among)
        {
            var allowed = Quoted().Matches(among.Groups["list"].Value).Select(m => m.Groups[1].Value).ToList();
            var choice = allowed.Count > 1 ? $"{string.Join(", ", allowed[..^1])} or {allowed[^1]}" : string.Join("", allowed);
            return $"{option.Name} must be {choice}, not '{among.Groups["value"].Value}'";
        }
        if (Required().IsMatch(message)) return $"{option.Name} is required";
        if (MissingValue().IsMatch(message)) return $"{option.Name} needs a value";
        if (SingleArgument().Match(message) is { Success: true } single)
            return $"{option.Name} takes one value but was given {single.Groups["count"].Value}";
        return message;
    }

    private static string PlainCommandError(ParseError error)
    {
        var message = error.Message;
        if (Unrecognized().Match(message) is { Success: true } unknown)
            return $"unknown option or argument '{unknown.Groups["value"].Value}'";
        if (NoCommand().IsMatch(message) && error.SymbolResult is CommandResult command)
            return $"a command is needed: {string.Join(", ", command.Command.Subcommands.Select(c => c.Name))}";
        return message;
    }

    private static string Kind(Option option)
    {
        var type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
        if (type.IsArray) type = type.GetElementType()!;
        if (type == typeof(bool)) return "true or false";
        if (type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(uint) || type == typeof(ulong) || type == typeof(ushort) || type == typeof(byte))
            return "a whole number";
        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal)) return "a number";
        if (type.IsEnum) return "one of " + string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant()));
        return "a valid value";
    }

    /// <summary>One line, no trailing full stop, and no .NET type name even in a message we did not foresee.</summary>
    public static string OneLine(string text)
    {
        text = Whitespace().Replace(text, " ").Trim();
        text = ParameterName().Replace(text, "");
        text = TypeName().Replace(text, "a value");
        return text.EndsWith('.') ? text[..^1] : text;
    }

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for option '.*' as expected type '.*'\.?$", RegexOptions.Singleline)]
    private static partial Regex CannotParse();

    [GeneratedRegex(@"^Argument '(?<value>.*?)' not recognized\. Must be one of:(?<list>.*)$", RegexOptions.Singleline)]
    private static partial Regex NotAmong();

    [GeneratedRegex("'([^']*)'")]
    private static partial Regex Quoted();

    [GeneratedRegex(@"^Option '.*' is required\.?$")]
    private static partial Regex Required();

    [GeneratedRegex(@"^Required argument missing for option: '.*'\.?$")]
    private static partial Regex MissingValue();

    [GeneratedRegex(@"expects a single argument but (?<count>\d+) were provided")]
    private static partial Regex SingleArgument();

    [GeneratedRegex(@"^Unrecognized command or argument '(?<value>.*)'\.?$", RegexOptions.Singleline)]
    private static partial Regex Unrecognized();

    [GeneratedRegex(@"^Required command was not provided\.?$")]
    private static partial Regex NoCommand();

    [GeneratedRegex(@" ?\(Parameter '[^']*'\)$")]
    private static partial Regex ParameterName();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"'?\b(System|Microsoft)(\.[A-Z][A-Za-z0-9_`]*)+(\[[^\]]*\])?'?")]
    private static partial Regex TypeName();
}
