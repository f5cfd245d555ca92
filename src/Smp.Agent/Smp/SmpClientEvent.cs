using Smp.Protocol.Encodings;

namespace Smp.Agent.Smp;

/// <summary>What the SMP client tells the agent without being asked.</summary>
public abstract record SmpClientEvent(SmpServerAddress Server)
{
    /// <summary>
    /// A server MSG: pushed (empty corrId) or answering SUB/ACK. Every MSG reaches the agent here and only
    /// here; the SUB or ACK it answered completes normally.
    /// </summary>
    public sealed record Message(SmpServerAddress Server, byte[] RecipientId, byte[] MsgId, DateTimeOffset Timestamp, ReadOnlyMemory<byte> Body)
        : SmpClientEvent(Server);

    /// <summary>The server sent END: another connection subscribed to the queue; it is no longer ours.</summary>
    public sealed record SubscriptionEnded(SmpServerAddress Server, byte[] RecipientId) : SmpClientEvent(Server);

    /// <summary>The connection to the server was lost; sent once per loss. Reconnecting starts.</summary>
    public sealed record ServerDown(SmpServerAddress Server) : SmpClientEvent(Server);

    /// <summary>Reconnected and every recorded subscription re-sent.</summary>
    public sealed record ServerUp(SmpServerAddress Server) : SmpClientEvent(Server);

    /// <summary>
    /// Something from the server that belongs to no request: an <c>ERR</c> with an unknown corrId (for example
    /// the server's <c>ERR BLOCK</c>), a block or transmission that does not parse, or a re-subscription the
    /// server refused (then <paramref name="QueueId"/> is the recipient id and the subscription is dropped).
    /// </summary>
    public sealed record Error(SmpServerAddress Server, byte[] QueueId, SmpClientError ClientError) : SmpClientEvent(Server);
}
