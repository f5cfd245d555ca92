using System.Globalization;
using System.Text.Json;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace Smp.Cli.Configuration;

/// <summary>One value of a configuration file, with the line it is on (1-based) for error messages.</summary>
internal abstract record ConfigValue(int Line)
{
    internal sealed record Text(string Value, int Line) : ConfigValue(Line);

    internal sealed record Number(long Value, int Line) : ConfigValue(Line);

    internal sealed record Flag(bool Value, int Line) : ConfigValue(Line);

    internal sealed record Many(IReadOnlyList<ConfigValue> Items, int Line) : ConfigValue(Line);

    /// <summary>Anything no option takes (a table, a date, a fraction, null), named for the error.</summary>
    internal sealed record Other(string Kind, int Line) : ConfigValue(Line);

    public string Describe() => this switch
    {
        Text t => $"the string \"{t.Value}\"",
        Number i => string.Create(CultureInfo.InvariantCulture, $"the number {i.Value}"),
        Flag b => b.Value ? "true" : "false",
        Many => "a list",
        Other o => o.Kind,
        _ => "a value",
    };
}

/// <summary>A configuration file failed to load; the message is one line and names the file (and line or key).</summary>
internal sealed class ConfigFileException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A configuration file: flat <c>key = value</c> pairs in TOML (<c>.toml</c>) or one JSON object (<c>.json</c>),
/// keys being option names without their dashes (docs/configuration.md). Only reads: which keys are options
/// and what types they need is <see cref="OptionLayers"/>' business.
/// </summary>
internal sealed class ConfigFile
{
    private ConfigFile(string path, IReadOnlyDictionary<string, ConfigValue> entries)
    {
        Path = path;
        Entries = entries;
    }

    public string Path { get; }

    /// <summary>Keys as written, in file order.</summary>
    public IReadOnlyDictionary<string, ConfigValue> Entries { get; }

    /// <summary>Files larger than this are not configuration files.</summary>
    public const int MaxBytes = 1 << 20;

    public static ConfigFile Load(string path)
    {
        string text;
        try
        {
            var info = new FileInfo(path);
            if (Directory.Exists(path)) throw new ConfigFileException($"{path}: is a directory, not a configuration file");
            if (!info.Exists) throw new ConfigFileException($"{path}: no such configuration file");
            if (info.Length > MaxBytes) throw new ConfigFileException($"{path}: too large for a configuration file ({info.Length} bytes, at most {MaxBytes})");
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.SecurityException)
        {
            throw new ConfigFileException($"{path}: cannot be read ({e.Message})", e);
        }
        var extension = System.IO.Path.GetExtension(path).ToLowerInvariant();
        var entries = extension switch
        {
            ".toml" => ReadToml(path, text),
            ".json" => ReadJson(path, text),
            _ => throw new ConfigFileException($"{path}: unknown configuration file type '{extension}'; name it .toml or .json"),
        };
        return new ConfigFile(path, entries);
    }

    private static Dictionary<string, ConfigValue> ReadToml(string path, string text)
    {
        DocumentSyntax document;
        TomlTable table;
        try
        {
            // The syntax tree gives lines and the key list; Tomlyn accepts a repeated key silently, we do not.
            document = SyntaxParser.ParseStrict(text, path, false);
            table = TomlSerializer.Deserialize<TomlTable>(text, new TomlSerializerOptions { SourceName = path })!;
        }
        catch (TomlException e)
        {
            throw new ConfigFileException(string.Create(CultureInfo.InvariantCulture,
                $"{path}:{e.Line}: not valid TOML: {FirstLine(e.Diagnostics?.ToString() ?? e.Message)}"), e);
        }
        if (document.Tables.ChildrenCount > 0)
        {
            var first = document.Tables.GetChild(0)!;
            throw new ConfigFileException(string.Create(CultureInfo.InvariantCulture,
                $"{path}:{first.Span.Start.Line + 1}: tables such as [{first.Name}] are not used; write the options as top-level key = value lines"));
        }
        var entries = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);
        foreach (var kv in document.KeyValues)
        {
            var line = kv.Span.Start.Line + 1;
            var key = kv.Key!.DotKeys.ChildrenCount > 0 ? kv.Key.ToString().Trim() : KeyText(kv.Key.Key);
            if (kv.Key.DotKeys.ChildrenCount > 0)
                throw new ConfigFileException(string.Create(CultureInfo.InvariantCulture, $"{path}:{line}: dotted key '{key}' is not an option"));
            if (entries.ContainsKey(key))
                throw new ConfigFileException(string.Create(CultureInfo.InvariantCulture, $"{path}:{line}: key '{key}' is set twice"));
            entries[key] = FromToml(table[key], line);
        }
        return entries;
    }

    private static string KeyText(BareKeyOrStringValueSyntax? key) => key switch
    {
        BareKeySyntax bare => bare.Key?.Text ?? "",
        StringValueSyntax quoted => quoted.Value ?? "",
        _ => key?.ToString()?.Trim() ?? "",
    };

    private static ConfigValue FromToml(object? value, int line) => value switch
    {
        string s => new ConfigValue.Text(s, line),
        long n => new ConfigValue.Number(n, line),
        bool b => new ConfigValue.Flag(b, line),
        TomlArray a => new ConfigValue.Many(a.Select(item => FromToml(item, line)).ToList(), line),
        double => new ConfigValue.Other("a fraction", line),
        TomlDateTime => new ConfigValue.Other("a date", line),
        TomlTable => new ConfigValue.Other("a table", line),
        _ => new ConfigValue.Other("an unsupported value", line),
    };

    private static Dictionary<string, ConfigValue> ReadJson(string path, string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions
            {
                CommentHandling = JsonCommentHandling.Skip,
                AllowTrailingCommas = true,
                MaxDepth = 8,
            });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ConfigFileException($"{path}: a JSON configuration file holds one object {{ \"option\": value, ... }}");
            // JsonDocument keeps no line numbers per element: errors name the key instead.
            var entries = new Dictionary<string, ConfigValue>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (entries.ContainsKey(property.Name))
                    throw new ConfigFileException($"{path}: key '{property.Name}' is set twice");
                entries[property.Name] = FromJson(property.Value);
            }
            return entries;
        }
        catch (JsonException e)
        {
            var line = (e.LineNumber ?? 0) + 1;
            throw new ConfigFileException(string.Create(CultureInfo.InvariantCulture, $"{path}:{line}: not valid JSON: {FirstLine(StripJsonPosition(e.Message))}"), e);
        }
    }

    private static ConfigValue FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => new ConfigValue.Text(e.GetString()!, 0),
        JsonValueKind.Number when e.TryGetInt64(out var n) => new ConfigValue.Number(n, 0),
        JsonValueKind.Number => new ConfigValue.Other("a fraction", 0),
        JsonValueKind.True => new ConfigValue.Flag(true, 0),
        JsonValueKind.False => new ConfigValue.Flag(false, 0),
        JsonValueKind.Array => new ConfigValue.Many(e.EnumerateArray().Select(FromJson).ToList(), 0),
        JsonValueKind.Object => new ConfigValue.Other("an object", 0),
        _ => new ConfigValue.Other("null", 0),
    };

    private static string StripJsonPosition(string message)
    {
        var at = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return at > 0 ? message[..at] : message;
    }

    private static string FirstLine(string text)
    {
        var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        // Tomlyn prefixes "path(line,col) : error : "; the caller has said where already.
        var marker = line.IndexOf(" : error : ", StringComparison.Ordinal);
        return marker >= 0 ? line[(marker + " : error : ".Length)..] : line;
    }
}
