using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Cli.Client;

// Smp.Cli.AgentCommand (the `smp agent` subcommand) would hide the protocol type otherwise.

/// <summary>
/// Which relays the person has been told are lost. The agent sends <c>DOWN</c> and <c>UP</c> once per
/// connection with a queue on the relay (protocol/agent.md §2.5), so one outage arrives as many; the
/// person is told once that it is lost and once that it is back. Used from the connection loop only.
/// </summary>
internal sealed class RelayOutages
{
    private readonly HashSet<string> _down = new(StringComparer.Ordinal);

    /// <summary>Said lost on an earlier agent connection: what happened since is unknown.</summary>
    private readonly HashSet<string> _uncertain = new(StringComparer.Ordinal);

    /// <summary>Whether <paramref name="e"/> is news: the first DOWN of an outage or the first UP after it.</summary>
    public bool IsNews(AgentCommand e) => e switch
    {
        AgentCommand.Down d => _down.Add(Key(d.Server)) | _uncertain.Remove(Key(d.Server)),
        AgentCommand.Up u => _down.Remove(Key(u.Server)) | _uncertain.Remove(Key(u.Server)),
        _ => true,
    };

    /// <summary>
    /// A new connection to the agent: DOWN and UP are not stored, so those sent meanwhile were missed. A relay
    /// said lost may be back or lost again; either of its next events is shown.
    /// </summary>
    public void Reconnected()
    {
        _uncertain.UnionWith(_down);
        _down.Clear();
    }

    private static string Key(SmpServerAddress server) => $"{server.Host}:{server.EffectivePort}";
}
