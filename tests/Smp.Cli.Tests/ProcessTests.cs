using System.Diagnostics;
using System.Globalization;
using Smp.Agent.Client;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Cli.Tests;

/// <summary>
/// The real <c>smp</c> executable: configured from files and the environment, refusing bad input as a
/// process (exit code, stderr), and two agents on one database.
/// </summary>
public sealed class ProcessTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("smp-cli-process-");
    private readonly List<Process> _processes = [];

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            Cli.Stop(p);
            p.Dispose();
        }
        try
        {
            _dir.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string Path(string name) => System.IO.Path.Combine(_dir.FullName, name);

    private Process Start(Dictionary<string, string>? environment, params string[] args)
    {
        var p = Cli.Start(environment, args);
        _processes.Add(p);
        return p;
    }

    /// <summary>An agent on <paramref name="db"/> whose relay does not exist: enough for anything that needs no relay.</summary>
    private async Task<(Process Process, int Port)> StartAgentAsync(string db)
    {
        var p = Start(null, "agent", "--server", Cli.Relay, "--db", db, "--port", "0", "--key-bits", "1024", "--log-level", "warning");
        return (p, int.Parse(await Cli.LineAfterAsync(p, "listening on port "), CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_server_and_an_agent_configured_by_file_and_environment_alone_work_together()
    {
        var serverConfig = Path("server.toml");
        await File.WriteAllTextAsync(serverConfig, $"""
            # options of smp server; the command line and SMP_SERVER_* variables override them
            port = 0
            data = "{Path("server-data")}"
            bind = "127.0.0.1"
            message-ttl = "2h"
            log-level = "warning"
            """);
        var server = Start(new() { ["SMP_SERVER_CONFIG"] = serverConfig, ["SMP_SERVER_HOST"] = "127.0.0.1" }, "server");
        var address = SmpServerAddress.Parse(await Cli.LineAfterAsync(server, "SMP server listening on "));
        Assert.Equal("127.0.0.1", address.Host);
        Assert.NotNull(address.KeyHash);
        Assert.True(File.Exists(Path("server-data/server_key.pem")), "the data directory is the file's");

        var agentConfig = Path("agent.json");
        await File.WriteAllTextAsync(agentConfig, """{ "key-bits": 1024, "log-level": "warning", "port": 1 }""");
        var agent = Start(new()
        {
            ["SMP_AGENT_CONFIG"] = agentConfig,
            ["SMP_AGENT_SERVER"] = address.ToString(),
            ["SMP_AGENT_DB"] = Path("agent.db"),
            ["SMP_AGENT_PORT"] = "0", // the environment wins over the file's port 1
        }, "agent");
        var port = int.Parse(await Cli.LineAfterAsync(agent, "listening on port "), CultureInfo.InvariantCulture);
        await using var client = await AgentTcpClient.ConnectAsync("127.0.0.1", port);
        var answer = await client.RequestAsync("bob", new AgentCommand.New(), Wait);
        var invitation = Assert.IsType<AgentCommand.Inv>(answer.Command);
        Assert.Equal(address, invitation.QueueInfo.Server);
        Assert.True(File.Exists(Path("agent.db")));
    }

    [Fact]
    public async Task A_port_out_of_range_in_a_real_process_is_one_plain_line_and_exit_2()
    {
        var outcome = await Cli.RunProcessAsync(null, "agent", "--port", "70000", "--server", Cli.Relay);
        outcome.AssertPlain();
        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal("smp agent: --port must be between 0 and 65535, not '70000'", outcome.ErrorLines[0]);
    }

    [Fact]
    public async Task A_bad_key_in_a_configuration_file_stops_a_real_process_with_one_line_naming_file_and_key()
    {
        var config = Path("server.toml");
        await File.WriteAllTextAsync(config, "port = 0\nmessage-ttl = 30\n");
        var outcome = await Cli.RunProcessAsync(null, "server", "--config", config, "--data", Path("never"));
        outcome.AssertPlain();
        Assert.Equal(2, outcome.ExitCode);
        Assert.Equal($"smp server: {config}:2: message-ttl must be a string in quotes, not the number 30", Assert.Single(outcome.ErrorLines));
        Assert.False(Directory.Exists(Path("never")), "nothing was started");
    }

    [Fact]
    public async Task A_data_directory_that_is_a_file_is_named_and_the_server_exits_1()
    {
        var file = Path("not-a-directory");
        await File.WriteAllTextAsync(file, "x");
        var outcome = await Cli.RunProcessAsync(null, "server", "--port", "0", "--bind", "127.0.0.1", "--data", file, "--log-level", "none");
        outcome.AssertPlain();
        Assert.Equal(1, outcome.ExitCode);
        Assert.Contains(file, Assert.Single(outcome.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_port_already_taken_is_named_and_the_server_exits_1()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);
        var outcome = await Cli.RunProcessAsync(null, "server", "--port", port, "--bind", "127.0.0.1", "--data", Path("server"), "--log-level", "none");
        outcome.AssertPlain();
        Assert.Equal(1, outcome.ExitCode);
        Assert.StartsWith($"smp server: cannot listen on 127.0.0.1 port {port}", Assert.Single(outcome.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_agent_on_a_running_agents_database_exits_at_once_naming_the_file_and_the_holder()
    {
        var db = Path("shared.db");
        var (first, port) = await StartAgentAsync(db);

        var second = await Cli.RunProcessAsync(null, "agent", "--server", Cli.Relay, "--db", db, "--port", "0", "--log-level", "warning");
        second.AssertPlain();
        Assert.Equal(1, second.ExitCode);
        Assert.Empty(second.Output); // never said it was listening
        var line = Assert.Single(second.ErrorLines);
        Assert.Contains(db, line, StringComparison.Ordinal);
        Assert.Contains($"process {first.Id}", line, StringComparison.Ordinal);

        // The first one goes on serving its clients.
        await using (var client = await AgentTcpClient.ConnectAsync("127.0.0.1", port))
        {
            var answer = await client.RequestAsync("", new AgentCommand.SubAll(), Wait);
            Assert.IsType<AgentCommand.Ok>(answer.Command);
        }

        // Killed hard, it leaves its lock file behind; the operating system has dropped the lock itself.
        first.Kill(entireProcessTree: true);
        await first.WaitForExitAsync().WaitAsync(Wait);
        Assert.True(File.Exists(db + ".lock"));
        await StartAgentAsync(db);
    }

    [Fact]
    public async Task An_agent_told_to_accept_a_server_without_key_hash_starts_and_warns_naming_it()
    {
        var p = Start(null, "agent", "--server", "127.0.0.1:9", "--allow-unverified-server", "--db", Path("a.db"), "--port", "0",
            "--key-bits", "1024", "--log-level", "warning");
        await Cli.LineAfterAsync(p, "listening on port ");
        using var timeout = new CancellationTokenSource(Wait);
        while (true)
        {
            var line = await p.StandardError.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("no warning before the end of stderr");
            if (!line.Contains("will not be checked", StringComparison.Ordinal)) continue;
            Assert.Contains("127.0.0.1:9", line, StringComparison.Ordinal);
            break;
        }
    }

    [Fact]
    public async Task A_real_agent_with_metrics_serves_its_connections_and_relays_to_a_scraper_and_logs_its_start()
    {
        var server = Start(null, "server", "--port", "0", "--host", "127.0.0.1", "--bind", "127.0.0.1", "--data", Path("server-data"), "--log-level", "warning");
        var address = SmpServerAddress.Parse(await Cli.LineAfterAsync(server, "SMP server listening on "));
        var agent = Start(null, "agent", "--server", address.ToString(), "--db", Path("agent.db"), "--port", "0", "--key-bits", "1024",
            "--metrics", "127.0.0.1:0", "--log-level", "information");
        // "metrics on http://127.0.0.1:P/metrics, health on http://127.0.0.1:P/health", then the port line.
        var endpoints = (await Cli.LineAfterAsync(agent, "metrics on ")).Split(", health on ");
        var port = int.Parse(await Cli.LineAfterAsync(agent, "listening on port "), CultureInfo.InvariantCulture);
        using var timeout = new CancellationTokenSource(Wait);
        string started;
        do started = await agent.StandardError.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("no start line on stderr");
        while (!started.Contains("agent started", StringComparison.Ordinal));
        Assert.Contains(Path("agent.db"), started, StringComparison.Ordinal);

        await using var client = await AgentTcpClient.ConnectAsync("127.0.0.1", port);
        Assert.IsType<AgentCommand.Inv>((await client.RequestAsync("bob", new AgentCommand.New(), Wait)).Command);
        using var http = new HttpClient { Timeout = Wait };
        var scrape = await http.GetStringAsync(new Uri(endpoints[0]));
        Assert.Contains("# TYPE smp_agent_messages_sent_total counter", scrape, StringComparison.Ordinal);
        Assert.Equal(1, Exposition.Value(scrape, "smp_agent_connections", "status=\"pending\""));
        Assert.Equal(0, Exposition.Value(scrape, "smp_agent_connections", "status=\"active\""));
        Assert.Equal(1, Exposition.Value(scrape, "smp_agent_relays", "state=\"up\""));
        Assert.Equal(0, Exposition.Value(scrape, "smp_agent_outbox_jobs"));
        Assert.Equal(0, Exposition.Value(scrape, "smp_agent_envelopes_rejected_total", "kind=\"A_SIGNATURE\""));
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(new Uri(endpoints[1]))).StatusCode);
    }
}
