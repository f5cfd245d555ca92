using Smp.Protocol.Agent;

namespace Smp.Cli.Client;

// Smp.Cli.AgentCommand (the `smp agent` subcommand) would hide the protocol type otherwise.

/// <summary>A command sent to the agent and not fully answered yet, found again by its corrId.</summary>
internal sealed class PendingCommand(string alias, AgentCommand? command, string label)
{
    public string Alias { get; } = alias;

    /// <summary>Null for a raw line: its answers are shown as protocol text.</summary>
    public AgentCommand? Command { get; } = command;

    public string Label { get; } = label;

    /// <summary>Live members (invited, joining, connected) among the GMEM lines seen so far for a /members.</summary>
    public int Members { get; set; }

    /// <summary>Members that left or were removed, among those lines: listed, but not counted as members.</summary>
    public int Departed { get; set; }

    /// <summary>
    /// Whether <paramref name="answer"/> is the last one this command gets. GMEMBERS ends with its OK, SUBALL
    /// never (one OK per connection, no end mark), JOIN with an error (success is a later CON notification).
    /// </summary>
    public bool IsFinishedBy(AgentCommand answer) => Command switch
    {
        AgentCommand.SubAll => false,
        AgentCommand.Join => answer is AgentCommand.Err,
        AgentCommand.GMembers => answer is not AgentCommand.GMem,
        _ => true,
    };
}
