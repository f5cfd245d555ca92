using System.CommandLine;
using System.Globalization;
using System.Net;
using Smp.Server;

namespace Smp.Cli;

/// <summary><c>smp server</c>: runs an SMP relay until SIGTERM or Ctrl-C (docs/server.md).</summary>
internal static class ServerCommand
{
    public static Command Create()
    {
        var defaults = new SmpServerOptions();
        var host = new Option<string>("--host")
        {
            Description = "Host name written into the server address that clients are given (it is not bound).",
            DefaultValueFactory = _ => defaults.Host,
        };
        var port = CliOptions.Port("TCP port to listen on; 0 picks a free port and prints it.", defaults.Port);
        var data = new Option<string>("--data", "-d")
        {
            Description = "Data directory: server key (server_key.pem), store log and message journal. Created if missing.",
            DefaultValueFactory = _ => "./smp-server-data",
            HelpName = "dir",
        };
        var bind = CliOptions.Bind("Address to listen on (0.0.0.0 for all IPv4 interfaces, :: for all, 127.0.0.1 for this machine only).", defaults.BindAddress);
        var ttl = CliOptions.Duration("--message-ttl", "Messages not ACKed within this time are dropped (e.g. 30d, 12h, 90m).", defaults.MessageTtl);
        var maxMessages = CliOptions.Int("--max-queue-messages", "Messages that may wait in one queue; a SEND beyond this gets ERR QUOTA.",
            defaults.MaxMessagesPerQueue, 1, 1_000_000, "n");
        var fsync = new Option<bool>("--fsync")
        {
            Description = "fsync every store and journal record before answering (survives power loss, slower). Without it records reach the OS before the answer, which survives a process crash.",
        };
        var handshake = CliOptions.Duration("--handshake-timeout", "Connections that do not finish the transport handshake within this time are dropped.", defaults.HandshakeTimeout, TimeSpan.FromHours(1));
        // A timer's period is at most about 49 days.
        var stats = CliOptions.Duration("--stats-interval", "How often a statistics line is logged.", defaults.StatsInterval, TimeSpan.FromDays(1));
        var sendQueue = CliOptions.Int("--client-send-queue", "Blocks queued for one client; a client that lets this many pile up is disconnected.",
            defaults.SendQueueCapacity, 2, 65_536, "n");
        var keyBits = new Option<int>("--key-bits")
        {
            Description = "Size of the RSA server key created on first run (2048, 3072 or 4096).",
            DefaultValueFactory = _ => defaults.KeyBits,
            HelpName = "bits",
        };
        keyBits.AcceptOnlyFromAmong("2048", "3072", "4096");
        var newKey = new Option<bool>("--new-key")
        {
            Description = "Make a new server key when server_key.pem is missing beside an existing store (without this the server refuses to start). A new key is a new server address: every client of the stored queues must be given it.",
        };
        var metrics = MetricsEndpoint.CreateOption("Serve Prometheus metrics at http://ADDR:PORT/metrics and a health check at /health (e.g. 127.0.0.1:9464; port 0 picks a free one). Off unless given.");
        var logLevel = CliOptions.LogLevel();

        var command = new Command("server", "Run an SMP relay server. Prints 'SMP server listening on host:port#keyhash' once it accepts connections.")
        {
            host, port, data, bind, ttl, maxMessages, fsync, handshake, stats, sendQueue, keyBits, newKey, metrics, logLevel,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new SmpServerOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                DataDirectory = Path.GetFullPath(parse.GetValue(data)!),
                BindAddress = parse.GetValue(bind)!,
                MessageTtl = parse.GetValue(ttl),
                MaxMessagesPerQueue = parse.GetValue(maxMessages),
                FsyncEveryWrite = parse.GetValue(fsync),
                HandshakeTimeout = parse.GetValue(handshake),
                StatsInterval = parse.GetValue(stats),
                SendQueueCapacity = parse.GetValue(sendQueue),
                KeyBits = parse.GetValue(keyBits),
                AllowNewKey = parse.GetValue(newKey),
            };
            using var loggers = CliOptions.CreateLoggerFactory(parse.GetValue(logLevel));
            SmpServer server;
            try
            {
                server = await SmpServer.StartAsync(options, loggers, ct).ConfigureAwait(false);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                await Console.Error.WriteLineAsync($"smp server: cannot listen on {options.BindAddress} port {options.Port}: {e.Message}").ConfigureAwait(false);
                return 1;
            }
            catch (Exception e) when (e is SmpServerStartException or ArgumentException or IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"smp server: {e.Message}").ConfigureAwait(false);
                return 1;
            }
            await using (server.ConfigureAwait(false))
            {
                MetricsEndpoint? endpoint = null;
                if (parse.GetValue(metrics) is { } metricsAt)
                {
                    try
                    {
                        endpoint = await MetricsEndpoint.StartAsync(metricsAt, [SmpServer.MeterName], "smp-server", () => server.Accepting, loggers, ct).ConfigureAwait(false);
                    }
                    catch (IOException e)
                    {
                        await Console.Error.WriteLineAsync($"smp server: cannot serve metrics on {metricsAt}: {e.Message}").ConfigureAwait(false);
                        return 1;
                    }
                    Console.Out.WriteLine($"metrics on {endpoint.MetricsUri}, health on {endpoint.HealthUri}");
                }
                await using var metricsEndpoint = endpoint;
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"SMP server listening on {server.Address}"));
                Console.Out.Flush();
                try
                {
                    await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
                await server.StopAsync().ConfigureAwait(false);
            }
            return 0;
        });
        return command;
    }
}
