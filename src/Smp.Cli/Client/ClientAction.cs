using Smp.Protocol.Agent;

namespace Smp.Cli.Client;

// Smp.Cli.AgentCommand (the `smp agent` subcommand) would hide the protocol type otherwise.

/// <summary>What one typed line asks the terminal client to do (<see cref="ClientCommandParser"/>).</summary>
internal abstract record ClientAction
{
    /// <summary>A protocol command for the agent; <paramref name="Label"/> names it in the answers shown.</summary>
    public sealed record Request(string Alias, AgentCommand Command, string Label) : ClientAction;

    /// <summary>A raw transmission typed as <c>!alias COMMAND</c>: sent as typed, with a corrId of ours.</summary>
    public sealed record Raw(string Alias, string CommandLine) : ClientAction;

    public sealed record Help : ClientAction;

    public sealed record Quit : ClientAction;

    /// <summary><c>/wire on|off</c>: show every transmission as it crosses the wire.</summary>
    public sealed record Wire(bool On) : ClientAction;

    /// <summary><c>/name [name]</c>: this user's display name for groups created or joined from now on; null shows it, "" clears it.</summary>
    public sealed record SetName(string? Name) : ClientAction;

    /// <summary><c>/rename member [name]</c>: a local name for a member, shown instead of its own; no name removes it.</summary>
    public sealed record Rename(string Member, string? Name) : ClientAction;

    /// <summary>An empty line: nothing to do.</summary>
    public sealed record Nothing : ClientAction;

    /// <summary>A line that is not a command; <paramref name="Message"/> says why and what to type instead.</summary>
    public sealed record Invalid(string Message) : ClientAction;
}
