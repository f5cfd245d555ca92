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

    /// <summary>GMEM lines seen so far for a /members.</summary>
    public int Members { get; set; }

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
