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
        var port = new Option<int>("--port", "-p")
        {
            Description = "TCP port of the client protocol; 0 picks a free port and prints it.",
            DefaultValueFactory = _ => AgentListener.DefaultPort,
        };
        var servers = new Option<SmpServerAddress[]>("--server", "-s")
        {
            Description = "SMP server for new queues, as host:port#keyhash (repeat for several; the agent picks among them).",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
            CustomParser = r => r.Tokens.Select(t => SmpServerAddress.TryParse(t.Value, out var a) ? a! : Fail(r, t.Value)).ToArray(),
            HelpName = "addr",
        };
        var db = new Option<string>("--db")
        {
            Description = "SQLite file with the agent's connections, keys, outbox and undelivered events. Created if missing.",
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
        var fullSync = new Option<bool>("--fsync")
        {
            Description = "fsync every store commit (survives power loss, slower). Without it commits survive a process crash.",
        };
        var logLevel = CliOptions.LogLevel();

        var command = new Command("agent", "Run an SMP agent: duplex connections and groups for clients on its TCP port. Prints 'listening on port P' when ready.")
        {
            port, servers, db, bind, keyBits, fullSync, logLevel,
        };
        command.SetAction(async (parse, ct) =>
        {
            using var loggers = CliOptions.CreateLoggerFactory(parse.GetValue(logLevel));
            var options = new AgentOptions
            {
                Servers = parse.GetValue(servers)!,
                DatabasePath = Path.GetFullPath(parse.GetValue(db)!),
                KeyBits = parse.GetValue(keyBits),
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
                await Console.Error.WriteLineAsync($"smp agent: {e.Message}").ConfigureAwait(false);
                return 1;
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
                    await Console.Error.WriteLineAsync($"smp agent: cannot listen: {e.Message}").ConfigureAwait(false);
                    return 1;
                }
                await using (listener.ConfigureAwait(false))
                {
                    Console.Out.WriteLine($"listening on port {listener.Port}");
                    Console.Out.Flush();
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
        r.AddError($"'{value}' is not a server address (host[:port][#keyhash])");
        return null!;
    }
}
