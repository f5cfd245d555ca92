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

    /// <summary>
    /// Accept servers given without <c>#keyhash</c>. Their key is then not checked in the handshake, so
    /// anyone who can intercept the connection can pose as the relay; each is named in a warning at start.
    /// </summary>
    public bool AllowUnverifiedServers { get; init; }

    /// <summary>SQLite file; ":memory:" keeps nothing across restarts.</summary>
    public string DatabasePath { get; init; } = "smp-agent.db";

    /// <summary>fsync every store commit (power-loss durability) instead of relying on the OS.</summary>
    public bool FullSync { get; init; }

    /// <summary>
    /// Size of recipient, sender and signing keys. End-to-end encryption keys are always 2048 bits:
    /// OAEP-SHA256 cannot carry the 68-byte envelope header under a 1024-bit key.
    /// </summary>
    public int KeyBits { get; init; } = 2048;

    /// <summary>
    /// Keys generated ahead of use and kept in the database, so that setting up a connection does not wait
    /// for RSA key generation (agent.md, "Key pool"); 0 generates every key when it is needed.
    /// </summary>
    public int KeyPoolSize { get; init; } = 8;

    /// <summary>Largest <see cref="KeyPoolSize"/>: about 10 minutes of one core's key generation at 2048 bits.</summary>
    public const int MaxKeyPoolSize = 4096;

    /// <summary>First retry delay of a job that failed for a passing reason; grows ×1.5 up to the maximum.</summary>
    public TimeSpan RetryInitialDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// First retry delay of HELLO (grows ×1.5 up to <see cref="RetryMaxDelay"/>). Short, because the peer
    /// usually secures its queue within milliseconds of our confirmation.
    /// </summary>
    public TimeSpan HelloRetryInitialDelay { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>How long HELLO keeps being retried while the peer has not secured its queue.</summary>
    public TimeSpan HelloRetryLimit { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long HELLO is retried in all (from its first try) on a connection that is being ended with
    /// messages queued behind it (a group's farewell): after that the queued messages are abandoned and the
    /// connection ends. A peer that deleted its queue answers AUTH forever, which HELLO cannot tell from a
    /// peer that has not secured it yet.
    /// </summary>
    public TimeSpan DropHelloLimit { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long server message ids are kept for dropping redeliveries; longer than any relay keeps a
    /// message (the relay's default expiry is 30 days). Pruned at start.
    /// </summary>
    public TimeSpan SeenIdRetention { get; init; } = TimeSpan.FromDays(45);

    /// <summary>
    /// SENDs of one connection in flight at once, each sent without waiting for the previous one's OK
    /// (agent.md §4). 1 is stop-and-wait; at most what a receiver remembers of its chain (1024), so that a
    /// whole window sent again is recognised.
    /// </summary>
    public int SendWindow { get; init; } = 32;

    /// <summary>
    /// How long a received envelope that is ahead of its connection's chain waits for the ones before it
    /// (agent.md §4: a sender's window can be reordered by a full queue); after that it is delivered with
    /// the gap reported. At most 64 envelopes per connection are held.
    /// </summary>
    public TimeSpan ReorderHoldLimit { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long an introduction this agent runs as inviter may take (groups.md §6.5): after that it fails
    /// with TIMEOUT at the inviter and at both members, so that GALL comes. As long as HELLO's retry limit
    /// by default: a member whose agent is offline for days still gets connected when it comes back.
    /// </summary>
    public TimeSpan IntroductionTimeout { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Whether this agent tells its group peers what members it knows (G_VIEW, groups.md §6.11), which lets
    /// them repair concurrent additions. Off, the agent behaves as the version before views towards its
    /// peers: for a group of older agents only, or to measure what the mechanism costs.
    /// </summary>
    public bool GroupViews { get; init; } = true;
    /// How many of a group's last messages (sent and received) an agent keeps and gives to each member it
    /// invites, as history (groups.md §6.6.2); 0 keeps none and gives none.
    /// </summary>
    public int GroupHistorySize { get; init; } = DefaultGroupHistorySize;

    public const int DefaultGroupHistorySize = 100;

    /// <summary>Largest <see cref="GroupHistorySize"/>, and the most history messages a newcomer accepts for one join.</summary>
    public const int MaxGroupHistorySize = 1000;

    public SmpClientOptions SmpClient { get; init; } = new();

    /// <summary>How long one answer of the store serves metric scrapes (tests read fresh counts with zero).</summary>
    internal TimeSpan MetricsStoreCache { get; init; } = TimeSpan.FromSeconds(1);

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Refuses options an agent cannot run with; warns about each server whose identity will not be checked.</summary>
    internal void Validate()
    {
        if (SendWindow is < 1 or > Store.StoreTx.ReceivedChainKept)
            throw new ArgumentException($"the send window must be between 1 and {Store.StoreTx.ReceivedChainKept}", nameof(SendWindow));
        if (Servers.Count == 0) throw new ArgumentException("at least one SMP server is needed", nameof(Servers));
        if (GroupHistorySize is < 0 or > MaxGroupHistorySize)
            throw new ArgumentException($"the group history size must be 0 to {MaxGroupHistorySize}, not {GroupHistorySize}", nameof(GroupHistorySize));
        if (KeyPoolSize is < 0 or > MaxKeyPoolSize)
            throw new ArgumentException($"the key pool size must be 0 to {MaxKeyPoolSize}, not {KeyPoolSize}", nameof(KeyPoolSize));
        var unverified = Servers.Where(s => s.KeyHash is null).ToList();
        if (unverified.Count == 0) return;
        if (!AllowUnverifiedServers)
            throw new ArgumentException($"the server {unverified[0]} has no #keyhash, so its identity could not be checked; give its address with the key hash it prints (host:port#keyhash), or allow unverified servers explicitly", nameof(Servers));
        var log = LoggerFactory.CreateLogger("Smp.Agent.SmpAgent");
        foreach (var server in unverified)
            log.LogWarning("the identity of server {Server} will not be checked (its address has no #keyhash): whoever answers at that address is trusted as the relay", server);
    }
}
