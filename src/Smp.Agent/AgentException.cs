namespace Smp.Agent;

/// <summary>A command failed; <see cref="ErrorText"/> is what follows <c>ERR </c> on the wire (agent.md §3).</summary>
public sealed class AgentException(string errorText) : Exception(errorText)
{
    public string ErrorText { get; } = errorText;

    public static AgentException ConnUnknown() => new("CONN UNKNOWN");
    public static AgentException ConnDuplicate() => new("CONN DUPLICATE");
    public static AgentException ConnSimplex() => new("CONN SIMPLEX");
    public static AgentException Large() => new("CMD LARGE");
    public static AgentException Syntax() => new("CMD SYNTAX");
}
