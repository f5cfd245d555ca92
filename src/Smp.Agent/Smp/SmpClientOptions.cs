using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Smp.Agent.Smp;

/// <summary>Timing of the SMP client; the defaults are the reference's (agent-ref.md §7, server-ref.md §8).</summary>
public sealed record SmpClientOptions
{
    /// <summary>TCP connect plus transport handshake; exceeding it is BROKER NETWORK.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>How long one request waits for its response; exceeding it is BROKER TIMEOUT.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>PING period; a PING that gets no PONG in time closes the connection as dead. Infinite disables.</summary>
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First wait before reconnecting after a lost connection; doubles per failed attempt.</summary>
    public TimeSpan ReconnectInitialDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Ceiling of the reconnect wait.</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    internal void Validate()
    {
        if (ConnectTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ConnectTimeout));
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RequestTimeout));
        if (PingInterval <= TimeSpan.Zero && PingInterval != Timeout.InfiniteTimeSpan) throw new ArgumentOutOfRangeException(nameof(PingInterval));
        if (ReconnectInitialDelay <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(ReconnectInitialDelay));
        if (ReconnectMaxDelay < ReconnectInitialDelay) throw new ArgumentOutOfRangeException(nameof(ReconnectMaxDelay));
    }
}
