using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Smp.Agent.Smp;
using Smp.Protocol.Encodings;

namespace Smp.Agent;

/// <summary>Configuration of one agent.</summary>
public sealed record AgentOptions
{
    /// <summary>SMP servers for new queues; the agent picks among them at random.</summary>
    public IReadOnlyList<SmpServerAddress> Servers { get; init; } = [];

    /// <summary>SQLite file; ":memory:" keeps nothing across restarts.</summary>
    public string DatabasePath { get; init; } = "smp-agent.db";

    /// <summary>fsync every store commit (power-loss durability) instead of relying on the OS.</summary>
    public bool FullSync { get; init; }

    /// <summary>
    /// Size of recipient, sender and signing keys. End-to-end encryption keys are always 2048 bits:
    /// OAEP-SHA256 cannot carry the 68-byte envelope header under a 1024-bit key.
    /// </summary>
    public int KeyBits { get; init; } = 2048;

    /// <summary>Pre-generated keys kept ready so that NEW and JOIN do not wait for RSA key generation.</summary>
    public int KeyPoolSize { get; init; } = 8;

    /// <summary>First retry delay of a job that failed for a passing reason; grows ×1.5 up to the maximum.</summary>
    public TimeSpan RetryInitialDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long HELLO keeps being retried while the peer has not secured its queue.</summary>
    public TimeSpan HelloRetryLimit { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long server message ids are kept for dropping redeliveries; longer than any relay keeps a
    /// message (the relay's default expiry is 30 days). Pruned at start.
    /// </summary>
    public TimeSpan SeenIdRetention { get; init; } = TimeSpan.FromDays(45);

    public SmpClientOptions SmpClient { get; init; } = new();

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;
}
