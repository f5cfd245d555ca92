using Smp.Protocol.Encodings;

namespace Smp.Protocol.Agent;

/// <summary>Envelope keywords (agent.md §2, groups.md §3). Numeric values are frozen.</summary>
public enum AgentEnvelopeKind
{
    Hello = 1,
    Reply = 2,
    Msg = 3,
    GInv = 11,
    GJoin = 12,
    GMem = 13,
    GInvMem = 14,
    GMemInv = 15,
    GHello = 16,
    GCon = 17,
    GAddErr = 18,
    GAll = 19,
    GMsg = 20,
    GLeft = 21,
    GMDel = 22,
    GMDeleted = 23,
    GDel = 24,
    GReject = 25,
    GInfo = 26,
    GFwd = 27,
    GHist = 28,
    GView = 29,
    GResend = 30,
    GResent = 31,
    GHead = 32,
}

/// <summary>
/// Why an introduction failed (<c>G_ADD_ERR</c>, groups.md §3). Values are frozen; new reasons may be added,
/// and a token this version does not know is read as <see cref="Unknown"/> so that a newer peer's report is
/// still handled.
/// </summary>
public enum GroupAddErrorReason
{
    /// <summary>A token this version does not know; written as <c>UNKNOWN</c>.</summary>
    Unknown = 0,
    /// <summary>Joining the offered queue failed (JOIN_FAILED).</summary>
    JoinFailed = 1,
    /// <summary>The connection did not come up in time (TIMEOUT).</summary>
    Timeout = 2,
    /// <summary>The member id is already known for another member (DUPLICATE_MEMBER).</summary>
    DuplicateMember = 3,
    /// <summary>The other member left or was removed before it connected (MEMBER_GONE).</summary>
    MemberGone = 4,
    /// <summary>A local failure (INTERNAL).</summary>
    Internal = 5,
}

/// <summary>
/// What a member says of another in <c>G_VIEW</c> (groups.md §6.11): C, P, L, R on the wire. Values are frozen
/// (they are stored in <c>member_views</c>).
/// </summary>
public enum MemberViewState
{
    /// <summary>Connected with the sender (C).</summary>
    Connected = 1,
    /// <summary>Invited by the sender or being connected to it (P).</summary>
    Pending = 2,
    /// <summary>Left the group: a tombstone (L).</summary>
    Left = 3,
    /// <summary>Removed from the group: a tombstone (R).</summary>
    Removed = 4,
}

/// <summary>One entry of a <c>G_VIEW</c>.</summary>
public readonly record struct MemberViewEntry(byte[] MemberId, MemberViewState State);

/// <summary>One entry of G_HEAD: the last of member <see cref="MemberId"/>'s messages the sender has (0: none), with its hash (empty with 0).</summary>
public readonly record struct ChainHeadEntry(byte[] MemberId, long LastSeq, byte[] LastHash);

/// <summary>
/// The envelope of an agent message (agent.md §2 and groups.md §3). Ids are raw bytes (b64 on the wire);
/// keys are DER SubjectPublicKeyInfo bytes; bodies are slices of the decoded plaintext.
/// </summary>
public abstract record AgentEnvelope(AgentEnvelopeKind Kind)
{
    /// <summary>Sizes of the random ids we make (groups.md §1, §3); the decoder accepts any 1..64 bytes.</summary>
    public const int InvitationIdSize = 12;
    public const int GroupIdSize = 32;
    public const int MemberIdSize = 16;
    public const int IntroductionIdSize = 12;
    public const int GroupMsgIdSize = 12;

    /// <summary>Whether the envelope belongs to the group extension (it travels on group or direct connections).</summary>
    public bool IsGroupEnvelope => Kind >= AgentEnvelopeKind.GInv;

    /// <summary><c>HELLO</c>: the sender's key for verifying envelope signatures. NoAck is parsed and has no effect.</summary>
    public sealed record Hello(byte[] VerifyKey, bool NoAck = false) : AgentEnvelope(AgentEnvelopeKind.Hello);

    /// <summary><c>REPLY</c>: the queue the joiner created for the way back.</summary>
    public sealed record Reply(SmpQueueInfo QueueInfo) : AgentEnvelope(AgentEnvelopeKind.Reply);

    /// <summary><c>MSG</c>: a client message.</summary>
    public sealed record Msg(ReadOnlyMemory<byte> Body) : AgentEnvelope(AgentEnvelopeKind.Msg);

    /// <summary><c>G_INV</c>, on the direct connection: an invitation with the inviter's fresh group queue.</summary>
    public sealed record GInv(byte[] InvitationId, byte[] GroupId, byte[] MemberId, int ConnectionLevel, SmpQueueInfo QueueInfo,
        ReadOnlyMemory<byte> GroupInfo) : AgentEnvelope(AgentEnvelopeKind.GInv);

    /// <summary><c>G_JOIN</c>, invitee to inviter: first envelope on the new group connection.</summary>
    public sealed record GJoin(byte[] InvitationId, byte[] MemberId) : AgentEnvelope(AgentEnvelopeKind.GJoin);

    /// <summary><c>G_MEM</c>, inviter to invitee: an existing member to connect to.</summary>
    public sealed record GMem(byte[] IntroductionId, byte[] MemberId, int ConnectionLevel) : AgentEnvelope(AgentEnvelopeKind.GMem);

    /// <summary><c>G_INV_MEM</c>, invitee to inviter: the two queues the introduced member should join.</summary>
    public sealed record GInvMem(byte[] IntroductionId, SmpQueueInfo GroupQueueInfo, SmpQueueInfo DirectQueueInfo)
        : AgentEnvelope(AgentEnvelopeKind.GInvMem);

    /// <summary><c>G_MEM_INV</c>, inviter to an existing member: the new member and its two queues.</summary>
    public sealed record GMemInv(byte[] IntroductionId, byte[] MemberId, int ConnectionLevel, SmpQueueInfo GroupQueueInfo,
        SmpQueueInfo DirectQueueInfo) : AgentEnvelope(AgentEnvelopeKind.GMemInv);

    /// <summary><c>G_HELLO</c>: first envelope on a group connection made by an introduction, each side.</summary>
    public sealed record GHello(byte[] MemberId) : AgentEnvelope(AgentEnvelopeKind.GHello);

    /// <summary><c>G_CON</c>, to the inviter: this introduction is connected.</summary>
    public sealed record GCon(byte[] IntroductionId) : AgentEnvelope(AgentEnvelopeKind.GCon);

    /// <summary><c>G_ADD_ERR</c>, to the inviter: this introduction failed.</summary>
    public sealed record GAddErr(byte[] IntroductionId, GroupAddErrorReason Reason) : AgentEnvelope(AgentEnvelopeKind.GAddErr);

    /// <summary><c>G_ALL</c>, inviter to invitee: every introduction is connected.</summary>
    public sealed record GAll() : AgentEnvelope(AgentEnvelopeKind.GAll);

    /// <summary><c>G_MSG</c>: a group message; AuthorSeq and PrevHash form the author's chain (agent.md §2).</summary>
    public sealed record GMsg(byte[] GroupMsgId, long AuthorSeq, byte[] PrevHash, ReadOnlyMemory<byte> Body)
        : AgentEnvelope(AgentEnvelopeKind.GMsg);

    /// <summary><c>G_LEFT</c>: the sender leaves the group.</summary>
    public sealed record GLeft() : AgentEnvelope(AgentEnvelopeKind.GLeft);

    /// <summary><c>G_MDEL</c>: remove that member (sent to the member itself too).</summary>
    public sealed record GMDel(byte[] MemberId) : AgentEnvelope(AgentEnvelopeKind.GMDel);

    /// <summary><c>G_MDELETED</c>, to the remover: that member is removed here.</summary>
    public sealed record GMDeleted(byte[] MemberId) : AgentEnvelope(AgentEnvelopeKind.GMDeleted);

    /// <summary><c>G_DEL</c>: the group is deleted.</summary>
    public sealed record GDel() : AgentEnvelope(AgentEnvelopeKind.GDel);

    /// <summary>
    /// <c>G_REJECT</c>, on the direct connection: the invitee declines the invitation (GREJECT). Not in the
    /// brief's envelope list, which names GREJECTED but no way to carry it; ours.
    /// </summary>
    public sealed record GReject(byte[] InvitationId) : AgentEnvelope(AgentEnvelopeKind.GReject);

    /// <summary>
    /// <c>G_VIEW</c> (ours): the members the sender knows and how it stands with each, so that the member that
    /// may introduce a missing pair sees it (groups.md §6.11). At most <see cref="MaxViewEntries"/> entries.
    /// </summary>
    public sealed record GView(IReadOnlyList<MemberViewEntry> Entries) : AgentEnvelope(AgentEnvelopeKind.GView);

    /// <summary>Entries a <c>G_VIEW</c> may carry: 100 × (24 + 2) characters fit an envelope.</summary>
    public const int MaxViewEntries = 100;
    /// <c>G_INFO</c>, on a group connection: the sender's own member info (a display name, a profile; opaque),
    /// sent by the member itself after its G_HELLO or G_JOIN, so no third member can forge it (groups.md §6.12). Ours.
    /// </summary>
    public sealed record GInfo(ReadOnlyMemory<byte> Info) : AgentEnvelope(AgentEnvelopeKind.GInfo);
    /// <c>G_FWD</c>, introducer to a member being introduced to the author: the author's G_MSG, intact, sent
    /// while the two are not connected yet (groups.md §6.6.1). <see cref="AuthorTs"/> is the author's header time.
    /// </summary>
    public sealed record GFwd(byte[] AuthorMemberId, DateTimeOffset AuthorTs, GMsg Message) : AgentEnvelope(AgentEnvelopeKind.GFwd);

    /// <summary>
    /// <c>G_HIST</c>, inviter to a newcomer, before G_ALL: one of the group's last messages, intact, oldest
    /// first (groups.md §6.6.2).
    /// </summary>
    public sealed record GHist(byte[] AuthorMemberId, DateTimeOffset AuthorTs, GMsg Message) : AgentEnvelope(AgentEnvelopeKind.GHist);

    /// <summary>
    /// <c>G_RESEND</c> (ours), reader to author: send me your own G_MSGs again from sequence <see cref="FromSeq"/> on;
    /// the member that was to forward them to me is gone (groups.md §6.6.1). <see cref="FromSeq"/> is at least 1.
    /// </summary>
    public sealed record GResend(long FromSeq) : AgentEnvelope(AgentEnvelopeKind.GResend);

    /// <summary>
    /// <c>G_RESENT</c> (ours), author to reader, after what it sent again on <c>G_RESEND</c> <see cref="FromSeq"/>:
    /// that is all it still had from there; a gap left after it stays (groups.md §6.6.1).
    /// </summary>
    public sealed record GResent(long FromSeq) : AgentEnvelope(AgentEnvelopeKind.GResent);

    /// <summary>
    /// <c>G_HEAD</c> (ours), introducer to a member it introduces authors to, for the authors it gives none of the
    /// messages of as history or replay: where each one's chain stands at the sender (<see cref="ChainHeadEntry"/>).
    /// What an author says after that reaches the member forwarded or directly, so a gap after it is one to wait
    /// for (groups.md §6.6.1). 1 to <see cref="MaxHeadEntries"/> entries.
    /// </summary>
    public sealed record GHead(IReadOnlyList<ChainHeadEntry> Heads) : AgentEnvelope(AgentEnvelopeKind.GHead);

    /// <summary>Most entries in one G_HEAD; a writer also keeps each envelope within the padded size.</summary>
    public const int MaxHeadEntries = 100;
}

/// <summary>The decrypted plaintext of an agent message body (agent.md §2).</summary>
public abstract record AgentPlaintext
{
    /// <summary><c>KEY</c>: the sender key the recipient secures its queue with.</summary>
    public sealed record Confirmation(byte[] SenderKey) : AgentPlaintext;

    /// <summary>
    /// An enveloped message. <see cref="SndMsgId"/> and <see cref="PrevMsgHash"/> chain the MSG envelopes of a
    /// queue; HELLO and REPLY stay outside the chain with id 0 and an empty hash (<see cref="Unchained"/>).
    /// </summary>
    public sealed record Message(long SndMsgId, DateTimeOffset Timestamp, byte[] PrevMsgHash, AgentEnvelope Envelope) : AgentPlaintext
    {
        public static Message Unchained(DateTimeOffset timestamp, AgentEnvelope envelope) => new(0, timestamp, [], envelope);
    }
}
