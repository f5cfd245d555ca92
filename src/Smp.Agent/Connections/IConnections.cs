using Smp.Agent.Runtime;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Connections;

/// <summary>A receive queue just made on a server, with the invitation that lets a peer send to it.</summary>
internal sealed record NewReceiveQueue(SmpQueueInfo Invitation, RcvQueueRecord Record)
{
    public string Alias => Record.Alias;
}

/// <summary>
/// What a layer above may do with connections (architecture.md, "Layers"): make one, seal an envelope to
/// it and queue it, end it. Everything else about connections (handshake, ACKs, chains, retries) stays
/// below this line. Methods taking a <see cref="StoreTx"/> run inside the caller's transaction and do no
/// network I/O; what must happen after commit goes to the <see cref="Effects"/>.
/// </summary>
internal interface IConnections
{
    /// <summary>Makes a receive queue on one of our servers for a new connection: network, outside any transaction.</summary>
    Task<NewReceiveQueue> MakeReceiveQueueAsync(string alias, CancellationToken ct);

    /// <summary>Records a connection that waits for a peer to join <paramref name="queue"/>'s invitation.</summary>
    void AddInviting(StoreTx tx, NewReceiveQueue queue, ConnectionKind kind, string owner);

    /// <summary>
    /// Records a connection that joins a peer's invitation: our send queue, the sealed confirmation and HELLO,
    /// and (with <paramref name="reply"/>) the reply queue to make; its runner starts after commit.
    /// </summary>
    void AddJoining(StoreTx tx, string alias, ConnectionKind kind, string owner, SmpQueueInfo invitation, RsaPublicKey encryptKey, bool reply,
        string corrId, Effects fx);

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction in which <see cref="AddJoining"/> may take pool keys,
    /// and returns its effects. A try that finds no key ready is rolled back and run again, with fresh
    /// effects, once a key was made outside the store gate.
    /// </summary>
    Task<Effects> TransactAsync(Action<StoreTx, Effects> work, CancellationToken ct);

    bool Exists(StoreTx tx, string alias);

    /// <summary>True when both of the connection's queues are up (CON was reached).</summary>
    bool IsDuplex(StoreTx tx, string alias);

    /// <summary>Seals <paramref name="envelope"/> with the connection's next chain position and queues it; false without a send queue.</summary>
    bool Queue(StoreTx tx, string alias, AgentEnvelope envelope, Effects fx);

    /// <summary>Ends the connection after what is queued on it; with <paramref name="abandonQueued"/>, what is queued goes too.</summary>
    void Drop(StoreTx tx, string alias, bool abandonQueued, Effects fx);
}

/// <summary>
/// What the connection layer asks of the layer above it, through this interface it defines: envelopes that
/// are not its own (the group envelopes), and the client aliases that layer owns (group aliases).
/// </summary>
internal interface IConnectionOwner
{
    /// <summary>Applies an envelope received on <paramref name="conn"/> in the receive transaction; false refuses it (A_PROHIBITED).</summary>
    bool Apply(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message message, Effects fx);

    /// <summary>
    /// Whether an envelope that is next in <paramref name="conn"/>'s chain should wait before it is applied (a
    /// group message after a gap in its author's chain that a forward may still fill). It is then held like
    /// an envelope ahead of the chain, with what comes after it, until the layer names the connection in
    /// <see cref="Effects.Resume"/> or the hold limit ends (then it is applied whatever this says).
    /// </summary>
    bool Waits(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message message, Effects fx);

    /// <summary>
    /// An envelope just held ahead of its place on <paramref name="conn"/> that the layer above can use now: the one
    /// that the envelopes waiting before it wait for (a group message the author sent again). True when the layer
    /// applied it; it stays held all the same and is offered again in its place, where the layer drops it as a copy.
    /// </summary>
    bool TakesEarly(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message message, Effects fx);

    /// <summary>Whether <paramref name="alias"/> names something of the upper layer, so no connection may take it.</summary>
    bool OwnsAlias(StoreTx tx, string alias);

    /// <summary>Every client alias of the upper layer, for SUBALL.</summary>
    IEnumerable<string> Aliases(StoreTx tx);

    /// <summary>
    /// A handshake step of <paramref name="conn"/>, which it owns, failed for good. True when the layer told
    /// its client in its own terms, so that the client does not also get the SMP error.
    /// </summary>
    bool HandshakeFailed(StoreTx tx, ConnectionRecord conn, Effects fx);
}
