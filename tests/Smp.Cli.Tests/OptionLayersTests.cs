using System.CommandLine;
using Smp.Cli.Configuration;

namespace Smp.Cli.Tests;

/// <summary>
/// Options from the command line, the environment and a configuration file (docs/configuration.md): which
/// wins, how names are formed, and the one-line errors for files and variables that are wrong.
/// </summary>
public sealed class OptionLayersTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("smp-config-tests-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string File(string name, string text)
    {
        var path = Path.Combine(_dir.FullName, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    private static Dictionary<string, string> Env(params (string Name, string Value)[] variables) =>
        variables.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);

    /// <summary>The real <c>smp</c> commands, parsed but not run.</summary>
    private static Program.Prepared Prepare(Dictionary<string, string> environment, params string[] args) =>
        Program.Prepare(Program.CreateRoot(), args, environment);

    private static string Errors(Program.Prepared p) =>
        string.Join("\n", p.LayerErrors.Concat(p.Parse.Errors.Select(e => CliErrors.Describe(e, p.Sources))));

    [Fact]
    public void The_command_line_wins_over_the_environment_which_wins_over_the_file_which_wins_over_the_default()
    {
        var config = File("agent.toml", """
            port = 1111
            db = "/from/file.db"
            key-bits = 4096
            server = ["file.example:5223#AQID"]
            """);
        var p = Prepare(Env(("SMP_AGENT_CONFIG", config), ("SMP_AGENT_PORT", "2222"), ("SMP_AGENT_DB", "/from/env.db")),
            "agent", "--port", "3333");
        Assert.True(p.LayerErrors.Count == 0 && p.Parse.Errors.Count == 0, Errors(p));
        Assert.Equal(3333, p.Parse.GetValue<int>("--port"));                 // command line over environment and file
        Assert.Equal("/from/env.db", p.Parse.GetValue<string>("--db"));       // environment over file
        Assert.Equal(4096, p.Parse.GetValue<int>("--key-bits"));              // file over default
        Assert.Equal("file.example:5223#AQID", Assert.Single(p.Parse.GetValue<Protocol.Encodings.SmpServerAddress[]>("--server")!).ToString());
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Information, p.Parse.GetValue<CliLogLevel>("--log-level").Level); // default
        Assert.Equal("--port", p.Sources[Option(p, "--port")]);
        Assert.Equal("SMP_AGENT_DB", p.Sources[Option(p, "--db")]);
        Assert.Equal($"{config}:3: key-bits", p.Sources[Option(p, "--key-bits")]);
    }

    private static Option Option(Program.Prepared p, string name) => p.Parse.CommandResult.Command.Options.Single(o => o.Name == name);

    [Fact]
    public void A_json_file_gives_the_same_values_as_toml_and_the_config_option_beats_its_variable()
    {
        var toml = File("server.toml", "port = 7\nhost = \"wrong.example\"\n");
        var json = File("server.json", """
            {
              // comments and a trailing comma are allowed
              "port": 0,
              "host": "relay.example",
              "message-ttl": "12h",
              "fsync": true,
            }
            """);
        var p = Prepare(Env(("SMP_SERVER_CONFIG", toml)), "server", "--config", json);
        Assert.True(p.LayerErrors.Count == 0 && p.Parse.Errors.Count == 0, Errors(p));
        Assert.Equal(0, p.Parse.GetValue<int>("--port"));
        Assert.Equal("relay.example", p.Parse.GetValue<string>("--host"));
        Assert.Equal(TimeSpan.FromHours(12), p.Parse.GetValue<CliDuration>("--message-ttl").Value);
        Assert.True(p.Parse.GetValue<bool>("--fsync"));
    }

    [Fact]
    public void Names_follow_one_rule_and_underscores_may_stand_for_dashes_in_file_keys()
    {
        var config = File("server.toml", "max_queue_messages = 5\nclient-send-queue = 9\n");
        var p = Prepare(Env(("SMP_SERVER_CONFIG", config), ("SMP_SERVER_HANDSHAKE_TIMEOUT", "750ms"), ("SMP_SERVER_LOG_LEVEL", "debug")), "server");
        Assert.True(p.LayerErrors.Count == 0 && p.Parse.Errors.Count == 0, Errors(p));
        Assert.Equal(5, p.Parse.GetValue<int>("--max-queue-messages"));
        Assert.Equal(9, p.Parse.GetValue<int>("--client-send-queue"));
        Assert.Equal(TimeSpan.FromMilliseconds(750), p.Parse.GetValue<CliDuration>("--handshake-timeout").Value);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, p.Parse.GetValue<CliLogLevel>("--log-level").Level);
        var config2 = (ConfigFileOption)Option(p, "--config");
        Assert.Equal("SMP_SERVER_MAX_QUEUE_MESSAGES", OptionLayers.EnvironmentName(config2, Option(p, "--max-queue-messages")));
    }

    [Fact]
    public void An_option_added_to_a_command_later_gets_a_variable_and_a_file_key_without_code()
    {
        // As --new-key and --metrics will be: a flag and an option with its own parser.
        var command = new Command("relay");
        var newKey = new Option<bool>("--new-key");
        var metrics = new Option<System.Net.IPEndPoint?>("--metrics") { CustomParser = r => System.Net.IPEndPoint.Parse(r.Tokens[0].Value) };
        command.Options.Add(newKey);
        command.Options.Add(metrics);
        command.SetAction(_ => 0);
        var root = new RootCommand { OptionLayers.Enable(command) };
        var config = File("relay.toml", "metrics = \"127.0.0.1:9464\"\n");

        var p = Program.Prepare(root, ["relay", "--config", config], Env(("SMP_RELAY_NEW_KEY", "1")));
        Assert.True(p.LayerErrors.Count == 0 && p.Parse.Errors.Count == 0, Errors(p));
        Assert.True(p.Parse.GetValue(newKey));
        Assert.Equal(System.Net.IPEndPoint.Parse("127.0.0.1:9464"), p.Parse.GetValue(metrics));

        var off = Program.Prepare(root, ["relay"], Env(("SMP_RELAY_NEW_KEY", "off")));
        Assert.False(off.Parse.GetValue(newKey));
    }

    [Fact]
    public void A_list_option_from_a_variable_is_split_on_commas_and_spaces_and_values_keep_their_equals_signs()
    {
        var p = Prepare(Env(("SMP_AGENT_SERVER", "a.example:5223#AQIDBA==, b.example#BAUG  c.example:1#Bw==")), "agent");
        Assert.True(p.LayerErrors.Count == 0 && p.Parse.Errors.Count == 0, Errors(p));
        var servers = p.Parse.GetValue<Protocol.Encodings.SmpServerAddress[]>("--server")!;
        Assert.Equal(["a.example:5223#AQIDBA==", "b.example#BAUG", "c.example:1#Bw=="], servers.Select(s => s.ToString()));
    }

    [Fact]
    public void A_single_value_in_a_file_is_taken_as_a_list_of_one()
    {
        var config = File("agent.toml", "server = \"one.example#AQID\"\n");
        var p = Prepare(Env(("SMP_AGENT_CONFIG", config)), "agent");
        Assert.True(p.LayerErrors.Count == 0 && p.Parse.Errors.Count == 0, Errors(p));
        Assert.Single(p.Parse.GetValue<Protocol.Encodings.SmpServerAddress[]>("--server")!);
    }

    [Fact]
    public void An_empty_variable_counts_as_unset()
    {
        var p = Prepare(Env(("SMP_AGENT_PORT", ""), ("SMP_AGENT_SERVER", "a.example#AQID")), "agent");
        Assert.True(p.LayerErrors.Count == 0 && p.Parse.Errors.Count == 0, Errors(p));
        Assert.Equal(5224, p.Parse.GetValue<int>("--port"));
    }

    // ---- Hostile files and variables: one line, naming the file and key or the variable ----

    private string OneError(Dictionary<string, string> environment, params string[] args)
    {
        var p = Prepare(environment, args);
        // As smp reports them: errors of the layers alone, else those of the parse with the layers.
        var errors = p.LayerErrors.Count > 0 ? p.LayerErrors.ToList() : p.Parse.Errors.Select(e => CliErrors.Describe(e, p.Sources)).ToList();
        Assert.True(errors.Count == 1, string.Join("\n", errors));
        Assert.DoesNotContain('\n', errors[0]);
        Assert.DoesNotContain("System.", errors[0], StringComparison.Ordinal);
        return errors[0];
    }

    [Fact]
    public void A_misspelt_key_is_named_with_its_line_and_the_keys_there_are()
    {
        var config = File("agent.toml", "server = \"a#AQID\"\nprot = 5224\n");
        var error = OneError(Env(("SMP_AGENT_CONFIG", config)), "agent");
        Assert.StartsWith($"{config}:2: unknown key 'prot'", error, StringComparison.Ordinal);
        Assert.Contains("port", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_string_where_a_number_belongs_is_named_with_file_line_and_key()
    {
        var config = File("agent.toml", "server = \"a#AQID\"\nport = \"5224\"\n");
        Assert.Equal($"{config}:2: port must be a whole number, not the string \"5224\"", OneError(Env(("SMP_AGENT_CONFIG", config)), "agent"));
    }

    [Fact]
    public void A_number_where_true_or_false_belongs_is_refused()
    {
        var config = File("server.toml", "fsync = 1\n");
        Assert.Equal($"{config}:1: fsync must be true or false, not the number 1", OneError(Env(), "server", "--config", config));
    }

    [Fact]
    public void A_list_for_a_single_value_option_is_refused()
    {
        var config = File("server.toml", "port = [1, 2]\n");
        Assert.Equal($"{config}:1: port takes one value, not a list", OneError(Env(), "server", "--config", config));
    }

    [Fact]
    public void A_list_holding_the_wrong_kind_of_item_is_refused()
    {
        var config = File("agent.toml", "server = [\"a#AQID\", 5]\n");
        Assert.Equal($"{config}:1: server must be a list of strings in quotes, not a list holding the number 5", OneError(Env(), "agent", "--config", config));
    }

    [Fact]
    public void A_value_out_of_range_in_a_file_names_the_file_and_key_not_the_flag()
    {
        var config = File("agent.toml", "server = \"a#AQID\"\nport = 70000\n");
        Assert.Equal($"{config}:2: port must be between 0 and 65535, not '70000'", OneError(Env(), "agent", "--config", config));
    }

    [Fact]
    public void A_value_out_of_range_in_a_variable_names_the_variable()
    {
        Assert.Equal("SMP_AGENT_PORT must be between 0 and 65535, not '70000'",
            OneError(Env(("SMP_AGENT_PORT", "70000"), ("SMP_AGENT_SERVER", "a#AQID")), "agent"));
    }

    [Fact]
    public void A_variable_that_is_neither_true_nor_false_is_refused()
    {
        Assert.Equal("SMP_SERVER_FSYNC must be true or false (or 1 or 0), not 'sometimes'", OneError(Env(("SMP_SERVER_FSYNC", "sometimes")), "server"));
    }

    [Fact]
    public void A_misspelt_variable_with_the_commands_prefix_is_refused_rather_than_ignored()
    {
        var error = OneError(Env(("SMP_SERVER_PROT", "1")), "server");
        Assert.StartsWith("environment variable SMP_SERVER_PROT names no option", error, StringComparison.Ordinal);
        Assert.Contains("SMP_SERVER_PORT", error, StringComparison.Ordinal);
        // Another command's variables are not this one's business.
        Assert.Empty(Prepare(Env(("SMP_AGENT_PROT", "1")), "server").LayerErrors);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var missing = Path.Combine(_dir.FullName, "nothere.toml");
        Assert.Equal($"{missing}: no such configuration file", OneError(Env(), "server", "--config", missing));
    }

    [Fact]
    public void A_directory_given_as_the_file_is_named()
    {
        Assert.Equal($"{_dir.FullName}: is a directory, not a configuration file", OneError(Env(), "server", "--config", _dir.FullName));
    }

    [Fact]
    public void A_file_that_cannot_be_read_is_named()
    {
        if (!OperatingSystem.IsLinux()) return;
        string config;
        if (Environment.UserName == "root")
        {
            config = "/proc/self/mem"; // root reads any file, but this one fails at offset 0
        }
        else
        {
            config = File("secret.toml", "port = 1\n");
            System.IO.File.SetUnixFileMode(config, UnixFileMode.None);
        }
        Assert.StartsWith($"{config}: cannot be read", OneError(Env(), "server", "--config", config), StringComparison.Ordinal);
    }

    [Fact]
    public void A_huge_file_is_not_read_as_configuration()
    {
        var config = File("huge.toml", "# " + new string('x', ConfigFile.MaxBytes) + "\n");
        Assert.StartsWith($"{config}: too large for a configuration file", OneError(Env(), "server", "--config", config), StringComparison.Ordinal);
    }

    [Fact]
    public void Broken_toml_is_named_with_its_line()
    {
        var config = File("server.toml", "port = 1\nhost = = \"x\"\n");
        Assert.StartsWith($"{config}:2: not valid TOML", OneError(Env(), "server", "--config", config), StringComparison.Ordinal);
    }

    [Fact]
    public void Broken_json_is_named_with_its_line()
    {
        var config = File("server.json", "{\n  \"port\": 1,\n  \"host\" \"x\"\n}\n");
        Assert.StartsWith($"{config}:3: not valid JSON", OneError(Env(), "server", "--config", config), StringComparison.Ordinal);
    }

    [Fact]
    public void A_json_file_that_is_not_an_object_is_refused()
    {
        var config = File("server.json", "[1, 2]");
        Assert.StartsWith($"{config}: a JSON configuration file holds one object", OneError(Env(), "server", "--config", config), StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_set_twice_is_refused_rather_than_the_last_one_silently_winning()
    {
        var toml = File("twice.toml", "port = 1\nport = 2\n");
        Assert.Equal($"{toml}:2: key 'port' is set twice", OneError(Env(), "server", "--config", toml));
        var spelled = File("spelled.toml", "max-queue-messages = 1\nmax_queue_messages = 2\n");
        Assert.Equal($"{spelled}:2: key 'max_queue_messages' sets max-queue-messages a second time", OneError(Env(), "server", "--config", spelled));
        var json = File("twice.json", "{\"port\": 1, \"port\": 2}");
        Assert.Equal($"{json}: key 'port' is set twice", OneError(Env(), "server", "--config", json));
    }

    [Fact]
    public void Tables_and_dotted_keys_are_refused_since_no_option_is_one()
    {
        var table = File("table.toml", "port = 1\n[server]\nhost = \"x\"\n");
        Assert.StartsWith($"{table}:2: tables such as [server] are not used", OneError(Env(), "server", "--config", table), StringComparison.Ordinal);
        var dotted = File("dotted.toml", "server.port = 1\n");
        Assert.Equal($"{dotted}:1: dotted key 'server.port' is not an option", OneError(Env(), "server", "--config", dotted));
    }

    [Fact]
    public void A_date_or_fraction_is_named_as_such()
    {
        var config = File("server.toml", "host = 1979-05-27\n");
        Assert.Equal($"{config}:1: host must be a string in quotes, not a date", OneError(Env(), "server", "--config", config));
        var json = File("server.json", "{\"port\": 1.5}");
        Assert.Equal($"{json}: port must be a whole number, not a fraction", OneError(Env(), "server", "--config", json));
    }

    [Fact]
    public void A_file_naming_another_file_is_refused()
    {
        var config = File("server.toml", "config = \"other.toml\"\n");
        Assert.StartsWith($"{config}:1: key 'config' cannot be set in a configuration file", OneError(Env(), "server", "--config", config), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_file_type_is_refused()
    {
        var config = File("server.yaml", "port: 1\n");
        Assert.Equal($"{config}: unknown configuration file type '.yaml'; name it .toml or .json", OneError(Env(), "server", "--config", config));
    }

    /// <summary>The example files in the docs use real keys with the right kinds of value.</summary>
    [Theory]
    [InlineData("server.md", "server")]
    [InlineData("agent.md", "agent")]
    [InlineData("client.md", "client")]
    [InlineData("configuration.md", "agent")]
    public void The_example_configuration_files_in_the_docs_are_accepted(string doc, string command)
    {
        var text = System.IO.File.ReadAllText(Path.Combine(RepoRoot(), "docs", doc));
        var start = text.IndexOf("```toml\n", StringComparison.Ordinal);
        Assert.True(start >= 0, $"{doc} has a TOML example");
        start += "```toml\n".Length;
        var config = File(command + ".toml", text[start..text.IndexOf("```", start, StringComparison.Ordinal)]);
        var p = Prepare(Env(), command, "--config", config);
        Assert.Empty(p.LayerErrors);
        // The key hashes in the docs are shortened with "…": only --server may fail to parse.
        Assert.All(p.Parse.Errors, e => Assert.Contains("--server", e.Message, StringComparison.Ordinal));
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "Smp.slnx"))) return dir.FullName;
        throw new InvalidOperationException("the repository root (Smp.slnx) is not above " + AppContext.BaseDirectory);
    }

    [Fact]
    public void Help_needs_no_valid_configuration()
    {
        var p = Prepare(Env(("SMP_SERVER_CONFIG", "/nowhere.toml"), ("SMP_SERVER_PORT", "x")), "server", "--help");
        Assert.Empty(p.LayerErrors);
    }
}
