namespace Smp.Agent.Runtime;

/// <summary>
/// What a transaction asks to be done once it has committed: never before, so nothing is sent or
/// announced that the store might not have.
/// </summary>
internal sealed class Effects
{
    public HashSet<string> Kick { get; } = new(StringComparer.Ordinal);
    public HashSet<string> Dispatch { get; } = new(StringComparer.Ordinal);

    /// <summary>Connections that held an envelope ahead of their chain: released at the latest after the hold limit.</summary>
    public HashSet<string> Held { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Connections whose held envelopes the layer above waited on and now takes (a forward filled the gap in
    /// an author's chain): offered again in the same receive transaction. Only the receiver reads it: set in
    /// a command's transaction it is ignored, and what is held waits for the hold limit.
    /// </summary>
    public HashSet<string> Resume { get; } = new(StringComparer.Ordinal);

    /// <summary>(connection alias, group alias): the connection goes to whoever holds the group.</summary>
    public List<(string Alias, string Group)> Inherit { get; } = [];

    /// <summary>The received envelope was applied (not a redelivery, not rejected): counted once committed.</summary>
    public bool Received { get; set; }

    /// <summary>Why the received envelope was rejected (A_MESSAGE, A_ENCRYPTION, ...): counted and logged once committed.</summary>
    public Protocol.Agent.AgentErrorCode? Rejected { get; set; }

    /// <summary>
    /// Pool keys the transaction may take (<see cref="KeyPool.TransactAsync{T}"/>): spent if it commits, back
    /// in the pool if it rolls back. Null in a transaction that makes no queue.
    /// </summary>
    public KeyLease? Keys { get; init; }
}
