using System.Net;
using Smp.Agent.Tests;

namespace Smp.Cli.Tests;

/// <summary>
/// Hostile and mistaken command lines: each gets one line in plain words naming the flag and what it takes,
/// exit code 2 for usage errors and 1 for what fails at start, never a stack trace or a .NET type name.
/// </summary>
public sealed class BadFlagTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("smp-flag-tests-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static async Task RefusedAsync(string expected, params string[] args)
    {
        var outcome = await Cli.RunAsync(args);
        outcome.AssertPlain();
        Assert.True(outcome.ExitCode == Program.ExitUsage, $"exit {outcome.ExitCode}: {outcome.Error}");
        Assert.Equal(expected, outcome.ErrorLines[0]);
        Assert.Empty(outcome.Output);
    }

    private static Task AgentRefusedAsync(string expected, params string[] args) =>
        RefusedAsync(expected, ["agent", "--server", Cli.Relay, .. args]);

    [Fact]
    public Task A_port_above_65535_is_refused_with_the_range() =>
        AgentRefusedAsync("smp agent: --port must be between 0 and 65535, not '70000'", "--port", "70000");

    [Fact]
    public Task A_negative_port_is_refused_with_the_range() =>
        RefusedAsync("smp server: --port must be between 0 and 65535, not '-1'", "server", "--port", "-1");

    [Fact]
    public Task A_port_that_is_a_word_is_refused() =>
        AgentRefusedAsync("smp agent: --port must be a whole number between 0 and 65535, not 'http'", "--port", "http");

    [Fact]
    public Task A_port_too_big_for_any_integer_is_refused() =>
        AgentRefusedAsync("smp agent: --port must be a whole number between 0 and 65535, not '99999999999999999999999'", "--port", "99999999999999999999999");

    [Fact]
    public Task A_port_flag_without_its_value_is_refused() =>
        AgentRefusedAsync("smp agent: --port needs a value", "--port");

    [Fact]
    public Task An_option_given_twice_is_refused() =>
        AgentRefusedAsync("smp agent: --port takes one value but was given 2", "--port", "1", "--port", "2");

    [Fact]
    public Task A_server_address_that_is_no_address_is_refused() =>
        RefusedAsync("smp agent: --server must be a server address host[:port]#keyhash as smp server prints it, not 'relay:http#x'", "agent", "--server", "relay:http#x");

    [Fact]
    public Task A_server_without_key_hash_is_refused_so_that_its_identity_is_checked() =>
        RefusedAsync("smp agent: --server gives relay.example:5223 without #keyhash, so the relay's identity could not be checked; give the address smp server prints (host:port#keyhash), or add --allow-unverified-server",
            "agent", "--server", "relay.example:5223");

    [Fact]
    public void A_server_without_key_hash_is_accepted_with_the_explicit_flag()
    {
        var p = Program.Prepare(Program.CreateRoot(), ["agent", "--server", "relay.example:5223", "--allow-unverified-server"], new Dictionary<string, string>());
        Assert.Empty(p.Parse.Errors);
    }

    [Fact]
    public Task A_missing_server_is_refused() =>
        RefusedAsync("smp agent: --server is required", "agent", "--port", "0");

    [Fact]
    public Task A_key_size_not_offered_is_refused_with_the_sizes_there_are() =>
        AgentRefusedAsync("smp agent: --key-bits must be 1024, 2048 or 4096, not '3'", "--key-bits", "3");

    [Theory]
    [InlineData("-1", "smp agent: --key-pool must be between 0 and 4096, not '-1'")]
    [InlineData("5000", "smp agent: --key-pool must be between 0 and 4096, not '5000'")]
    [InlineData("many", "smp agent: --key-pool must be a whole number between 0 and 4096, not 'many'")]
    public Task A_key_pool_size_out_of_range_or_not_a_number_is_refused_with_the_range(string value, string expected) =>
        AgentRefusedAsync(expected, "--key-pool", value);

    [Fact]
    public void A_key_pool_size_is_read_from_the_flag_and_the_environment()
    {
        var flag = Program.Prepare(Program.CreateRoot(), ["agent", "--server", Cli.Relay, "--key-pool", "0"], new Dictionary<string, string>());
        Assert.Empty(flag.Parse.Errors);
        Assert.Equal(0, flag.Parse.GetValue<int>("--key-pool"));
        var env = Program.Prepare(Program.CreateRoot(), ["agent", "--server", Cli.Relay], new Dictionary<string, string> { ["SMP_AGENT_KEY_POOL"] = "32" });
        Assert.Empty(env.Parse.Errors);
        Assert.Equal(32, env.Parse.GetValue<int>("--key-pool"));
        var none = Program.Prepare(Program.CreateRoot(), ["agent", "--server", Cli.Relay], new Dictionary<string, string>());
        Assert.Equal(new Smp.Agent.AgentOptions().KeyPoolSize, none.Parse.GetValue<int>("--key-pool"));
    }

    [Theory]
    [InlineData("soon", "smp agent: --introduction-timeout must be a duration such as 30d, 12h, 90m, 45s or 500ms, not 'soon'")]
    [InlineData("0s", "smp agent: --introduction-timeout must be longer than 0, not '0s'")]
    public Task An_introduction_timeout_that_is_no_positive_duration_is_refused(string value, string expected) =>
        AgentRefusedAsync(expected, "--introduction-timeout", value);

    [Fact]
    public void An_introduction_timeout_is_read_from_the_flag_and_the_environment_and_defaults_to_seven_days()
    {
        var flag = Program.Prepare(Program.CreateRoot(), ["agent", "--server", Cli.Relay, "--introduction-timeout", "90m"], new Dictionary<string, string>());
        Assert.Empty(flag.Parse.Errors);
        Assert.Equal(TimeSpan.FromMinutes(90), flag.Parse.GetValue<CliDuration>("--introduction-timeout").Value);
        var env = Program.Prepare(Program.CreateRoot(), ["agent", "--server", Cli.Relay], new Dictionary<string, string> { ["SMP_AGENT_INTRODUCTION_TIMEOUT"] = "2h" });
        Assert.Empty(env.Parse.Errors);
        Assert.Equal(TimeSpan.FromHours(2), env.Parse.GetValue<CliDuration>("--introduction-timeout").Value);
        var none = Program.Prepare(Program.CreateRoot(), ["agent", "--server", Cli.Relay], new Dictionary<string, string>());
        Assert.Equal(TimeSpan.FromDays(7), none.Parse.GetValue<CliDuration>("--introduction-timeout").Value);
    }

    [Theory]
    [InlineData("-1", "smp agent: --group-history must be between 0 and 1000, not '-1'")]
    [InlineData("1001", "smp agent: --group-history must be between 0 and 1000, not '1001'")]
    [InlineData("lots", "smp agent: --group-history must be a whole number between 0 and 1000, not 'lots'")]
    public Task A_group_history_size_out_of_range_or_not_a_number_is_refused_with_the_range(string value, string expected) =>
        AgentRefusedAsync(expected, "--group-history", value);

    [Fact]
    public void A_group_history_size_is_read_from_the_flag_and_the_environment_and_defaults_to_100()
    {
        var flag = Program.Prepare(Program.CreateRoot(), ["agent", "--server", Cli.Relay, "--group-history", "0"], new Dictionary<string, string>());
        Assert.Empty(flag.Parse.Errors);
        Assert.Equal(0, flag.Parse.GetValue<int>("--group-history"));
        var env = Program.Prepare(Program.CreateRoot(), ["agent", "--server", Cli.Relay], new Dictionary<string, string> { ["SMP_AGENT_GROUP_HISTORY"] = "250" });
        Assert.Empty(env.Parse.Errors);
        Assert.Equal(250, env.Parse.GetValue<int>("--group-history"));
        var none = Program.Prepare(Program.CreateRoot(), ["agent", "--server", Cli.Relay], new Dictionary<string, string>());
        Assert.Equal(100, none.Parse.GetValue<int>("--group-history"));
    }

    [Fact]
    public Task A_server_key_size_not_offered_is_refused_with_the_sizes_there_are() =>
        RefusedAsync("smp server: --key-bits must be 2048, 3072 or 4096, not '1024'", "server", "--key-bits", "1024");

    [Fact]
    public Task An_unknown_log_level_is_refused_with_the_levels_there_are() =>
        AgentRefusedAsync("smp agent: --log-level must be trace, debug, information, warning, error, critical or none, not 'loud'", "--log-level", "loud");

    [Fact]
    public Task A_bind_address_that_is_a_host_name_is_refused() =>
        AgentRefusedAsync("smp agent: --bind must be an IP address such as 127.0.0.1, 0.0.0.0 or ::, not 'localhost'", "--bind", "localhost");

    [Fact]
    public Task An_unknown_option_is_named() =>
        AgentRefusedAsync("smp agent: unknown option or argument '--frobnicate'", "--frobnicate");

    [Fact]
    public Task A_flag_given_a_word_is_refused() =>
        RefusedAsync("smp server: unknown option or argument 'maybe'", "server", "--fsync", "maybe");

    [Fact]
    public Task A_duration_without_a_unit_is_refused_rather_than_read_as_days() =>
        RefusedAsync("smp server: --handshake-timeout must be a duration such as 30d, 12h, 90m, 45s or 500ms, not '5'", "server", "--handshake-timeout", "5");

    [Fact]
    public Task A_zero_duration_is_refused() =>
        RefusedAsync("smp server: --handshake-timeout must be longer than 0, not '0s'", "server", "--handshake-timeout", "0s");

    [Fact]
    public Task A_negative_duration_is_refused() =>
        RefusedAsync("smp server: --message-ttl must be a duration such as 30d, 12h, 90m, 45s or 500ms, not '-5s'", "server", "--message-ttl", "-5s");

    [Fact]
    public Task A_duration_longer_than_its_timer_can_wait_is_refused() =>
        RefusedAsync("smp server: --stats-interval must be at most 1d, not '100d'", "server", "--stats-interval", "100d");

    [Fact]
    public Task A_duration_that_overflows_is_refused() =>
        RefusedAsync("smp server: --message-ttl must be a duration such as 30d, 12h, 90m, 45s or 500ms, not '99999999999999999999d'", "server", "--message-ttl", "99999999999999999999d");

    [Fact]
    public Task A_queue_quota_of_zero_is_refused() =>
        RefusedAsync("smp server: --max-queue-messages must be between 1 and 1000000, not '0'", "server", "--max-queue-messages", "0");

    [Fact]
    public Task A_client_send_queue_too_small_to_work_is_refused() =>
        RefusedAsync("smp server: --client-send-queue must be between 2 and 65536, not '1'", "server", "--client-send-queue", "1");

    [Fact]
    public Task An_agent_address_without_a_port_number_is_refused() =>
        RefusedAsync("smp client: --agent must be host:port with a port between 1 and 65535 ([v6]:port for IPv6), not 'localhost:'", "client", "--agent", "localhost:");

    [Fact]
    public Task An_agent_address_with_port_zero_is_refused() =>
        RefusedAsync("smp client: --agent must be host:port with a port between 1 and 65535 ([v6]:port for IPv6), not '127.0.0.1:0'", "client", "--agent", "127.0.0.1:0");

    [Fact]
    public Task No_command_at_all_is_answered_with_the_commands_there_are() =>
        RefusedAsync("smp: a command is needed: server, agent, client, demo", []);

    [Fact]
    public async Task A_misspelt_command_is_named()
    {
        var outcome = await Cli.RunAsync("sevrer");
        outcome.AssertPlain();
        Assert.Equal(Program.ExitUsage, outcome.ExitCode);
        Assert.Contains("smp: unknown option or argument 'sevrer'", outcome.ErrorLines);
    }

    [Fact]
    public async Task Every_error_of_a_command_line_is_one_line_and_then_one_hint()
    {
        var outcome = await Cli.RunAsync("server", "--port", "x", "--message-ttl", "y", "--key-bits", "z");
        outcome.AssertPlain();
        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal(4, outcome.ErrorLines.Length);
        Assert.Equal("'smp server --help' lists the options.", outcome.ErrorLines[^1]);
    }

    // ---- What fails at start: exit 1, the file named ----

    [Fact]
    public async Task A_database_that_is_not_sqlite_is_named_at_start_and_left_alone()
    {
        var path = Path.Combine(_dir.FullName, "notes.db");
        await File.WriteAllTextAsync(path, string.Concat(Enumerable.Repeat("not a database at all\n", 100)));
        var outcome = await Cli.RunAsync("agent", "--server", Cli.Relay, "--db", path, "--port", "0", "--log-level", "none");
        outcome.AssertPlain();
        Assert.Equal(Program.ExitFailure, outcome.ExitCode);
        var line = Assert.Single(outcome.ErrorLines);
        Assert.StartsWith($"smp agent: cannot open the agent database {path}: ", line, StringComparison.Ordinal);
        Assert.Equal(string.Concat(Enumerable.Repeat("not a database at all\n", 100)), await File.ReadAllTextAsync(path));
    }

    [Fact]
    public async Task A_directory_given_as_the_database_is_named_at_start()
    {
        var outcome = await Cli.RunAsync("agent", "--server", Cli.Relay, "--db", _dir.FullName, "--port", "0", "--log-level", "none");
        outcome.AssertPlain();
        Assert.Equal(Program.ExitFailure, outcome.ExitCode);
        Assert.Equal($"smp agent: the agent database {_dir.FullName} is a directory; give a file name", Assert.Single(outcome.ErrorLines));
    }

    [Fact]
    public async Task A_database_where_no_directory_can_be_made_is_named_at_start()
    {
        var blocker = Path.Combine(_dir.FullName, "plain-file");
        await File.WriteAllTextAsync(blocker, "x");
        var path = Path.Combine(blocker, "agent.db");
        var outcome = await Cli.RunAsync("agent", "--server", Cli.Relay, "--db", path, "--port", "0", "--log-level", "none");
        outcome.AssertPlain();
        Assert.Equal(Program.ExitFailure, outcome.ExitCode);
        Assert.StartsWith($"smp agent: cannot create the directory of the agent database {path}", Assert.Single(outcome.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_port_already_taken_is_named_at_start()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var outcome = await Cli.RunAsync("agent", "--server", Cli.Relay, "--db", Path.Combine(_dir.FullName, "a.db"),
            "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--key-bits", "1024", "--log-level", "none");
        outcome.AssertPlain();
        Assert.Equal(Program.ExitFailure, outcome.ExitCode);
        Assert.StartsWith($"smp agent: cannot listen on 127.0.0.1 port {port}", Assert.Single(outcome.ErrorLines), StringComparison.Ordinal);
    }

    // ---- Help: defaults as they are typed ----

    [Fact]
    public async Task Help_shows_durations_and_addresses_as_they_are_typed_and_no_type_names()
    {
        var server = await Cli.RunAsync("server", "--help");
        Assert.Equal(0, server.ExitCode);
        server.AssertPlain();
        Assert.Contains("[default: 30d]", server.Output, StringComparison.Ordinal);
        Assert.Contains("[default: 5s]", server.Output, StringComparison.Ordinal);
        Assert.Contains("[default: 5m]", server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("00:00", server.Output, StringComparison.Ordinal);
        Assert.Contains("SMP_SERVER_", server.Output, StringComparison.Ordinal);

        var client = await Cli.RunAsync("client", "--help");
        client.AssertPlain();
        Assert.Contains("[default: 127.0.0.1:5224]", client.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("(127.0.0.1", client.Output, StringComparison.Ordinal);

        var agent = await Cli.RunAsync("agent", "--help");
        agent.AssertPlain();
        Assert.Contains("--allow-unverified-server", agent.Output, StringComparison.Ordinal);
        Assert.Contains("--config <file>", agent.Output, StringComparison.Ordinal);
        Assert.Contains("[default: 5224]", agent.Output, StringComparison.Ordinal);
        Assert.Contains("[default: 127.0.0.1]", agent.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", agent.Output, StringComparison.Ordinal);
        // Defaults are shown as they are typed: "information", not the enum's "Information".
        Assert.Contains("[default: information]", agent.Output, StringComparison.Ordinal);
        Assert.Contains("[default: information]", server.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("30d", 30 * 86400_000L, "30d")]
    [InlineData("90m", 90 * 60_000L, "90m")]
    [InlineData("1.5h", 90 * 60_000L, "90m")]
    [InlineData("36h", 36 * 3600_000L, "36h")]
    [InlineData("500ms", 500L, "500ms")]
    [InlineData("45s", 45_000L, "45s")]
    [InlineData("2H", 2 * 3600_000L, "2h")]
    [InlineData("1.02:03:04", ((((1 * 24) + 2) * 60 + 3) * 60 + 4) * 1000L, "93784s")]
    public void Durations_read_and_shown(string text, long milliseconds, string shown)
    {
        Assert.True(CliDuration.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
        Assert.Equal(shown, CliDuration.Format(value));
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("d")]
    [InlineData("5 days")]
    [InlineData("1e3s")]
    [InlineData("-5s")]
    [InlineData("99999999999999999999d")]
    public void Not_durations(string text) => Assert.False(CliDuration.TryParse(text, out _));
}
