namespace Smp.Cli.Client;

/// <summary>Settings of <see cref="TerminalClient"/>; <c>smp client</c> fills them from its options.</summary>
internal sealed record TerminalClientOptions
{
    public string Host { get; init; } = "127.0.0.1";

    public int Port { get; init; } = Smp.Agent.Client.AgentListener.DefaultPort;

    /// <summary>ANSI colours: only for a terminal, and never when NO_COLOR is set (the command decides).</summary>
    public bool Color { get; init; }

    /// <summary>First wait after a failed connection attempt; it doubles up to <see cref="ReconnectMaxDelay"/>.</summary>
    public TimeSpan ReconnectInitialDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A connection attempt that takes longer fails (a host that drops packets would otherwise hang it).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>At the end of input, how long to wait for answers still due (a script's output is then complete).</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The user's display name, sent as member info with /group and /join (<c>--name</c>; /name changes it).</summary>
    public string? OwnName { get; init; }

    /// <summary>Where /rename keeps its names (<c>--names-file</c>); none: they last until the client ends.</summary>
    public string? NamesFile { get; init; }
}
