namespace Smp.Agent.Store;

// Numeric values below are stored in the database: frozen, append only.

public enum ConnectionKind
{
    /// <summary>A connection the client sees and names.</summary>
    Direct = 1,
    /// <summary>A group connection: internal to the agent, bound to one (group, member) pair (groups.md §1).</summary>
    Group = 2,
}

public enum ConnectionStatus
{
    /// <summary>Invitation made (NEW), waiting for the peer's confirmation.</summary>
    Pending = 1,
    /// <summary>Handshake under way (confirmation, HELLO, REPLY).</summary>
    Joining = 2,
    /// <summary>Duplex and announced with CON.</summary>
    Active = 3,
}

public enum QueueStatus
{
    New = 1,
    Confirmed = 2,
    Secured = 3,
    Active = 4,
    Disabled = 5,
}

public enum JobKind
{
    /// <summary>Send the confirmation (unsigned SMP SEND) on the send queue.</summary>
    SendConfirmation = 1,
    /// <summary>Send HELLO, retrying while the server answers AUTH (the peer has not secured yet).</summary>
    SendHello = 2,
    /// <summary>Create our receive queue and seal the REPLY that carries it.</summary>
    CreateReplyQueue = 3,
    /// <summary>Send REPLY (body sealed by CreateReplyQueue).</summary>
    SendReply = 4,
    /// <summary>Send an agent message (MSG or a group envelope) already sealed in the body (queued by agents before <see cref="SendPlainMessage"/>).</summary>
    SendMessage = 5,
    /// <summary>Secure our receive queue with the sender key from the confirmation (SMP KEY).</summary>
    SecureQueue = 6,
    /// <summary>On the direct connection to the invitee: create the group connection for it, then G_INV (body: member row id).</summary>
    GroupInvite = 7,
    /// <summary>On the connection to our inviter: create the group and direct queues for an introduced member, then G_INV_MEM.</summary>
    GroupIntroInvite = 8,
    /// <summary>Delete our receive queue on its server and the connection here, after everything queued before it was sent.</summary>
    DropConnection = 9,
    /// <summary>
    /// Send an agent message whose plaintext, chain position taken, is the body: sealed for each attempt
    /// outside any store transaction. The same plaintext every time, so the receiver knows a resent copy.
    /// </summary>
    SendPlainMessage = 10,
}

public sealed record ConnectionRecord(
    string Alias,
    ConnectionKind Kind,
    ConnectionStatus Status,
    long LastInternalId = 0,
    long LastSndId = 0,
    byte[]? LastSndHash = null,
    long LastExtSndId = 0,
    byte[]? LastRcvHash = null,
    string JoinCorrId = "",
    string Owner = "");

public sealed record RcvQueueRecord(
    string Alias,
    string Server,
    byte[] RcvId,
    byte[] SndId,
    byte[] RcvKey,
    byte[] DecryptKey,
    byte[] EncryptKey,
    byte[]? SenderKey,
    byte[]? VerifyKey,
    QueueStatus Status);

public sealed record SndQueueRecord(
    string Alias,
    string Server,
    byte[] SndId,
    byte[] SndKey,
    byte[] EncryptKey,
    byte[] SignKey,
    QueueStatus Status);

public sealed record JobRecord(long Id, string Alias, JobKind Kind, string CorrId, long MsgId, byte[] Body, int Attempts);

/// <summary>A received envelope ahead of its chain, kept decrypted until the ones before it arrive.</summary>
public sealed record HeldEnvelope(long SndId, byte[] Hash, byte[] BrokerId, DateTimeOffset BrokerTs, byte[] Plaintext);

public sealed record EventRecord(long Id, string Alias, string CorrId, byte[] Payload);

/// <summary>A snapshot of the store's sizes, for the metrics.</summary>
public sealed record StoreCounts(IReadOnlyDictionary<ConnectionStatus, long> Connections, long Jobs, long Events);
