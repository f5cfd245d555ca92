using System.CommandLine;
using System.Net;
using Smp.Agent;
using Smp.Agent.Client;
using Smp.Protocol.Encodings;

namespace Smp.Cli;

/// <summary><c>smp agent</c>: runs an SMP agent with its client port until SIGTERM or Ctrl-C (docs/agent.md).</summary>
internal static class AgentHostCommand
{
    public static Command Create()
    {
        var defaults = new AgentOptions();
        var port = CliOptions.Port("TCP port of the client protocol; 0 picks a free port and prints it.", AgentListener.DefaultPort);
        var servers = new Option<SmpServerAddress[]>("--server", "-s")
        {
            Description = "SMP server for new queues, as host:port#keyhash as smp server prints it (repeat for several; the agent picks among them).",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
            CustomParser = r => r.Tokens.Select(t => SmpServerAddress.TryParse(t.Value, out var a) ? a! : Fail(r, t.Value)).ToArray(),
            HelpName = "addr",
        };
        var allowUnverified = new Option<bool>("--allow-unverified-server")
        {
            Description = "Accept a --server without #keyhash. Its identity is then not checked: whoever answers at that address is trusted as the relay. A warning names each such server.",
        };
        var db = new Option<string>("--db")
        {
            Description = "SQLite file with the agent's connections, keys, outbox and undelivered events. Created if missing; locked (FILE.lock) while the agent runs.",
            DefaultValueFactory = _ => defaults.DatabasePath,
            HelpName = "file",
        };
        var bind = CliOptions.Bind("Address the client port listens on (127.0.0.1: this machine only).", IPAddress.Loopback);
        var keyBits = new Option<int>("--key-bits")
        {
            Description = "Size of the queue and signing keys (end-to-end encryption keys are always 2048 bits).",
            DefaultValueFactory = _ => defaults.KeyBits,
            HelpName = "bits",
        };
        keyBits.AcceptOnlyFromAmong("1024", "2048", "4096");
        var keyPool = CliOptions.Int("--key-pool",
            "Keys generated ahead in the background and kept in the database, so setting up a connection (4 keys on each side) does not wait for key generation; 0 makes every key when it is needed.",
            defaults.KeyPoolSize, 0, AgentOptions.MaxKeyPoolSize, "n");
        var introTimeout = CliOptions.Duration("--introduction-timeout",
            "An introduction this agent runs for a group member it invited fails after this long (e.g. 7d, 12h, 30m), so that GALL comes; the two members are told.",
            defaults.IntroductionTimeout);
        var groupHistory = CliOptions.Int("--group-history",
            "How many of each group's last messages the agent keeps and gives to each member it invites, as history; 0 keeps and gives none.",
            defaults.GroupHistorySize, 0, AgentOptions.MaxGroupHistorySize, "n");
        var fullSync = new Option<bool>("--fsync")
        {
            Description = "fsync every store commit (survives power loss, slower). Without it commits survive a process crash.",
        };
        var metrics = MetricsEndpoint.CreateOption("Serve Prometheus metrics at http://ADDR:PORT/metrics and a health check at /health (e.g. 127.0.0.1:9465; port 0 picks a free one). Off unless given.");
        var logLevel = CliOptions.LogLevel();

        var command = new Command("agent", "Run an SMP agent: duplex connections and groups for clients on its TCP port. Prints 'listening on port P' when ready.")
        {
            port, servers, allowUnverified, db, bind, keyBits, keyPool, introTimeout, groupHistory, fullSync, metrics, logLevel,
        };
        // A relay without its key hash is a relay anyone on the path can impersonate: only on request.
        servers.Validators.Add(r =>
        {
            if (r.Parent?.GetValue(allowUnverified) == true) return;
            // From the tokens: a token that is no address at all has its own error already.
            foreach (var t in r.Tokens)
                if (SmpServerAddress.TryParse(t.Value, out var s) && s!.KeyHash is null)
                    r.AddError($"--server gives {s} without #keyhash, so the relay's identity could not be checked; give the address smp server prints (host:port#keyhash), or add --allow-unverified-server");
        });
        command.SetAction(async (parse, ct) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var output = parse.InvocationConfiguration.Output;
            using var loggers = CliOptions.CreateLoggerFactory(parse.GetValue(logLevel));
            var options = new AgentOptions
            {
                Servers = parse.GetValue(servers)!,
                AllowUnverifiedServers = parse.GetValue(allowUnverified),
                DatabasePath = Path.GetFullPath(parse.GetValue(db)!),
                KeyBits = parse.GetValue(keyBits),
                KeyPoolSize = parse.GetValue(keyPool),
                IntroductionTimeout = parse.GetValue(introTimeout),
                GroupHistorySize = parse.GetValue(groupHistory),
                FullSync = parse.GetValue(fullSync),
                LoggerFactory = loggers,
            };
            SmpAgent agent;
            try
            {
                agent = await SmpAgent.StartAsync(options, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ArgumentException or IOException or InvalidOperationException or UnauthorizedAccessException
                                          or Microsoft.Data.Sqlite.SqliteException)
            {
                await error.WriteLineAsync($"smp agent: {CliErrors.OneLine(e.Message)}").ConfigureAwait(false);
                return Program.ExitFailure;
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
            await using (agent.ConfigureAwait(false))
            {
                AgentListener listener;
                try
                {
                    listener = AgentListener.Start(agent, parse.GetValue(bind)!, parse.GetValue(port));
                }
                catch (System.Net.Sockets.SocketException e)
                {
                    await error.WriteLineAsync($"smp agent: cannot listen on {parse.GetValue(bind)} port {parse.GetValue(port)}: {e.Message}").ConfigureAwait(false);
                    return Program.ExitFailure;
                }
                await using (listener.ConfigureAwait(false))
                {
                    MetricsEndpoint? endpoint = null;
                    if (parse.GetValue(metrics) is { } metricsAt)
                    {
                        try
                        {
                            endpoint = await MetricsEndpoint.StartAsync(metricsAt, [SmpAgent.MeterName], "smp-agent", () => listener.Accepting, loggers, ct).ConfigureAwait(false);
                        }
                        catch (IOException e)
                        {
                            await error.WriteLineAsync($"smp agent: cannot serve metrics on {metricsAt}: {CliErrors.OneLine(e.Message)}").ConfigureAwait(false);
                            return Program.ExitFailure;
                        }
                        catch (OperationCanceledException)
                        {
                            return 0;
                        }
                        await output.WriteLineAsync($"metrics on {endpoint.MetricsUri}, health on {endpoint.HealthUri}").ConfigureAwait(false);
                    }
                    await using var metricsEndpoint = endpoint;
                    await output.WriteLineAsync($"listening on port {listener.Port}").ConfigureAwait(false);
                    await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                    try
                    {
                        await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            }
            return 0;
        });
        return command;
    }

    private static SmpServerAddress Fail(System.CommandLine.Parsing.ArgumentResult r, string value)
    {
        r.AddError($"--server must be a server address host[:port]#keyhash as smp server prints it, not '{value}'");
        return null!;
    }
}
