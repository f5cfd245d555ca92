using System.Collections;
using System.CommandLine;
using System.CommandLine.Help;
using System.Globalization;

namespace Smp.Cli.Configuration;

/// <summary><c>--config FILE</c> of a command whose options also come from the environment and a file.</summary>
internal sealed class ConfigFileOption : Option<string>
{
    public ConfigFileOption(string environmentPrefix, string exampleKey) : base("--config")
    {
        EnvironmentPrefix = environmentPrefix;
        Description = $"Configuration file (.toml or .json) whose keys are the option names without dashes, such as {exampleKey}. Every option can also be set in the environment as {environmentPrefix}<OPTION>, such as {environmentPrefix}{exampleKey.ToUpperInvariant().Replace('-', '_')}. The command line wins over the environment, which wins over the file.";
        HelpName = "file";
    }

    /// <summary><c>SMP_AGENT_</c> for <c>smp agent</c>.</summary>
    public string EnvironmentPrefix { get; }
}

/// <summary>
/// Gives every option of a command two more sources below the command line: environment variables, then a
/// configuration file (docs/configuration.md). It works on the command's option list, not on named options,
/// so an option added to a command later gets both without code here. Values found are handed to the
/// command line parser as <c>--name=value</c> tokens, so that they meet the same parsers and checks as typed
/// ones; <see cref="Result.Sources"/> lets errors name the variable or file key instead of the flag.
/// </summary>
internal static class OptionLayers
{
    public sealed record Result(string[] Args, IReadOnlyDictionary<Option, string> Sources, IReadOnlyList<string> Errors);

    /// <summary>Adds <c>--config</c> to <paramref name="command"/>; its variables are <c>SMP_NAME_OPTION</c>.</summary>
    public static Command Enable(Command command)
    {
        var example = command.Options.Where(o => o is not (HelpOption or VersionOption)).Select(Key).FirstOrDefault() ?? "option";
        command.Options.Add(new ConfigFileOption($"SMP_{command.Name.ToUpperInvariant().Replace('-', '_')}_", example));
        return command;
    }

    /// <summary>The file key of an option: its long name without dashes (<c>max-queue-messages</c>).</summary>
    public static string Key(Option option) => option.Name.TrimStart('-');

    /// <summary><c>SMP_SERVER_MAX_QUEUE_MESSAGES</c> for <c>--max-queue-messages</c> of <c>smp server</c>.</summary>
    public static string EnvironmentName(ConfigFileOption config, Option option) =>
        config.EnvironmentPrefix + Key(option).ToUpperInvariant().Replace('-', '_');

    /// <summary>
    /// The command line <paramref name="args"/> with the values of options it does not give, taken from
    /// <paramref name="environment"/> or the configuration file. <paramref name="first"/> is the parse of
    /// <paramref name="args"/> alone: it says which command runs and which options were typed.
    /// </summary>
    public static Result Apply(ParseResult first, IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment)
    {
        var sources = new Dictionary<Option, string>();
        var errors = new List<string>();
        var command = first.CommandResult.Command;
        var config = command.Options.OfType<ConfigFileOption>().FirstOrDefault();
        if (config is null) return new Result([.. args], sources, errors);

        var options = command.Options.Where(o => o is not (HelpOption or VersionOption)).ToList();
        var typed = options.Where(o => first.GetResult(o) is { Implicit: false }).ToHashSet();
        foreach (var o in typed) sources[o] = o.Name;

        errors.AddRange(UnknownVariables(config, options, environment));

        ConfigFile? file = null;
        var configPath = typed.Contains(config) ? first.GetValue(config) : Variable(environment, EnvironmentName(config, config));
        if (!string.IsNullOrEmpty(configPath))
        {
            try
            {
                file = ConfigFile.Load(configPath);
            }
            catch (ConfigFileException e)
            {
                errors.Add(e.Message);
            }
        }
        var fileValues = file is null ? [] : MatchKeys(file, options, config, errors);

        var added = new List<string>();
        foreach (var option in options)
        {
            if (typed.Contains(option)) continue;
            var variable = EnvironmentName(config, option);
            if (Variable(environment, variable) is { } text)
            {
                if (FromVariable(option, variable, text, errors) is { } values)
                {
                    added.AddRange(values.Select(v => $"{option.Name}={v}"));
                    sources[option] = variable;
                }
            }
            else if (fileValues.TryGetValue(option, out var entry))
            {
                var label = entry.Value.Line > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"{file!.Path}:{entry.Value.Line}: {entry.Key}")
                    : $"{file!.Path}: {entry.Key}";
                if (FromFile(option, label, entry.Value, errors) is { } values)
                {
                    added.AddRange(values.Select(v => $"{option.Name}={v}"));
                    sources[option] = label;
                }
            }
        }

        // Before a "--" (everything after it is an argument), else at the end.
        var list = args.ToList();
        var end = list.IndexOf("--");
        list.InsertRange(end < 0 ? list.Count : end, added);
        return new Result([.. list], sources, errors);
    }

    private static string? Variable(IReadOnlyDictionary<string, string> environment, string name) =>
        environment.TryGetValue(name, out var value) && value.Length > 0 ? value : null; // set but empty counts as unset

    /// <summary>A variable with the command's prefix that names no option is a typo: say so rather than ignore it.</summary>
    private static IEnumerable<string> UnknownVariables(ConfigFileOption config, List<Option> options, IReadOnlyDictionary<string, string> environment)
    {
        var known = options.Select(o => EnvironmentName(config, o)).ToHashSet(StringComparer.Ordinal);
        foreach (var name in environment.Keys.Order(StringComparer.Ordinal))
        {
            if (!name.StartsWith(config.EnvironmentPrefix, StringComparison.Ordinal) || known.Contains(name)) continue;
            yield return $"environment variable {name} names no option; the variables are {string.Join(", ", known.Order(StringComparer.Ordinal))}";
        }
    }

    /// <summary>Each file key matched to its option; <c>_</c> may stand for <c>-</c>. Unknown keys are errors.</summary>
    private static Dictionary<Option, KeyValuePair<string, ConfigValue>> MatchKeys(ConfigFile file, List<Option> options, ConfigFileOption config, List<string> errors)
    {
        var byKey = options.Where(o => o != config).ToDictionary(Key, StringComparer.Ordinal);
        var matched = new Dictionary<Option, KeyValuePair<string, ConfigValue>>();
        foreach (var entry in file.Entries)
        {
            var where = entry.Value.Line > 0 ? string.Create(CultureInfo.InvariantCulture, $"{file.Path}:{entry.Value.Line}") : file.Path;
            var normal = entry.Key.Replace('_', '-');
            if (normal == Key(config))
                errors.Add($"{where}: key '{entry.Key}' cannot be set in a configuration file (give --config or {EnvironmentName(config, config)})");
            else if (!byKey.TryGetValue(normal, out var option))
                errors.Add($"{where}: unknown key '{entry.Key}'; the keys are {string.Join(", ", byKey.Keys.Order(StringComparer.Ordinal))}");
            else if (!matched.TryAdd(option, entry))
                errors.Add($"{where}: key '{entry.Key}' sets {Key(option)} a second time");
        }
        return matched;
    }

    private enum Shape
    {
        Flag,
        Integer,
        Text,
    }

    /// <summary>What an option's values look like, from its value type: several values or one, and of which kind.</summary>
    private static (Shape Shape, bool Many) ShapeOf(Option option)
    {
        var type = option.ValueType;
        var many = false;
        if (type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type))
        {
            many = true;
            type = type.IsArray ? type.GetElementType()! : type.GetGenericArguments().FirstOrDefault() ?? typeof(string);
        }
        type = Nullable.GetUnderlyingType(type) ?? type;
        var shape = type == typeof(bool) ? Shape.Flag
            : type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(uint) || type == typeof(ulong) || type == typeof(ushort) || type == typeof(byte) ? Shape.Integer
            : Shape.Text;
        return (shape, many);
    }

    private static List<string>? FromVariable(Option option, string variable, string text, List<string> errors)
    {
        var (shape, many) = ShapeOf(option);
        if (many)
            return text.Split([',', ' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries).ToList();
        if (shape != Shape.Flag) return [text.Trim()];
        switch (text.Trim().ToLowerInvariant())
        {
            case "true" or "1" or "yes" or "on":
                return ["true"];
            case "false" or "0" or "no" or "off":
                return ["false"];
            default:
                errors.Add($"{variable} must be true or false (or 1 or 0), not '{text}'");
                return null;
        }
    }

    private static List<string>? FromFile(Option option, string label, ConfigValue value, List<string> errors)
    {
        var (shape, many) = ShapeOf(option);
        var items = value is ConfigValue.Many list ? list.Items : [value];
        if (!many && value is ConfigValue.Many)
        {
            errors.Add($"{label} takes one value, not a list");
            return null;
        }
        var tokens = new List<string>(items.Count);
        foreach (var item in items)
        {
            var token = (shape, item) switch
            {
                (Shape.Flag, ConfigValue.Flag b) => b.Value ? "true" : "false",
                (Shape.Integer, ConfigValue.Number n) => n.Value.ToString(CultureInfo.InvariantCulture),
                (Shape.Text, ConfigValue.Text t) => t.Value,
                _ => null,
            };
            if (token is null)
            {
                var wanted = (shape, many) switch
                {
                    (Shape.Flag, false) => "true or false",
                    (Shape.Flag, true) => "a list of true or false values",
                    (Shape.Integer, false) => "a whole number",
                    (Shape.Integer, true) => "a list of whole numbers",
                    (_, false) => "a string in quotes",
                    (_, true) => "a list of strings in quotes",
                };
                errors.Add($"{label} must be {wanted}, not {(many && value is ConfigValue.Many ? "a list holding " : "")}{item.Describe()}");
                return null;
            }
            tokens.Add(token);
        }
        return tokens;
    }
}
