using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Smp.Agent.Client;
using Smp.Cli.Client;

namespace Smp.Cli;

/// <summary><c>smp client</c>: an interactive terminal client for an agent (docs/client.md).</summary>
internal static class ClientCommand
{
    public static Command Create()
    {
        var agent = new Option<AgentEndpoint>("--agent", "-a")
        {
            Description = "The agent's client port as host:port ([v6]:port for IPv6).",
            DefaultValueFactory = _ => new AgentEndpoint("127.0.0.1", AgentListener.DefaultPort),
            CustomParser = ParseEndpoint,
            HelpName = "host:port",
        };
        var noColor = new Option<bool>("--no-color")
        {
            Description = "No ANSI colours. Colours are used only when stdout is a terminal and NO_COLOR is not set.",
        };
        var name = new Option<string?>("--name")
        {
            Description = "Your display name, sent to the members of groups you create or join (/name changes it).",
            HelpName = "name",
        };
        var namesFile = new Option<string?>("--names-file")
        {
            Description = "A file where /rename keeps the names you give members; without it they last until the client ends.",
            HelpName = "path",
        };
        var command = new Command("client", "Interactive terminal client for an SMP agent: contacts, groups, messages. Type /help once connected.")
        {
            agent, noColor, name, namesFile,
        };
        command.SetAction(async (parse, ct) =>
        {
            var (host, port) = parse.GetValue(agent)!;
            var options = new TerminalClientOptions
            {
                Host = host,
                Port = port,
                Color = !parse.GetValue(noColor) && !Console.IsOutputRedirected
                        && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"))
                        && Environment.GetEnvironmentVariable("TERM") != "dumb",
                OwnName = string.IsNullOrWhiteSpace(parse.GetValue(name)) ? null : parse.GetValue(name)!.Trim(),
                NamesFile = parse.GetValue(namesFile),
            };
            await TerminalClient.RunAsync(Console.In, parse.InvocationConfiguration.Output, options, ct).ConfigureAwait(false);
            return 0;
        });
        return command;
    }

    /// <summary>host:port, host alone (default port), or [v6]:port.</summary>
    internal static bool TryParseEndpoint(string text, out string host, out int port)
    {
        host = text;
        port = AgentListener.DefaultPort;
        var colon = text.LastIndexOf(':');
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0) return false;
            host = text[1..close];
            if (close == text.Length - 1) return host.Length > 0;
            if (text[close + 1] != ':') return false;
            colon = close + 1;
        }
        else if (colon >= 0)
        {
            if (text.IndexOf(':', StringComparison.Ordinal) != colon) return false; // a bare IPv6 address needs brackets
            host = text[..colon];
        }
        else
        {
            return host.Length > 0;
        }
        return host.Length > 0 && int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and <= 65535;
    }

    private static AgentEndpoint ParseEndpoint(ArgumentResult r)
    {
        var text = r.Tokens.Count > 0 ? r.Tokens[0].Value : "";
        if (TryParseEndpoint(text, out var host, out var port)) return new AgentEndpoint(host, port);
        r.AddError($"--agent must be host:port with a port between 1 and 65535 ([v6]:port for IPv6), not '{text}'");
        return new AgentEndpoint("127.0.0.1", AgentListener.DefaultPort);
    }
}

/// <summary>An agent's client port; shown as host:port (so <c>--help</c> shows the default that way too).</summary>
internal sealed record AgentEndpoint(string Host, int Port)
{
    public override string ToString() => (Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host) + ":" + Port.ToString(CultureInfo.InvariantCulture);
}
