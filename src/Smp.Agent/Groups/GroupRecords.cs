namespace Smp.Agent.Groups;

// Numeric values below are stored in the database: frozen, append only.

internal enum GroupStatus
{
    Active = 1,
    Left = 2,
    Removed = 3,
    Deleted = 4,
    /// <summary>
    /// GLEAVE was called while we were still bringing in members we invited (groups.md §6.7): we finish
    /// those introductions, then G_LEFT goes and the group is Left. Not a member to the client meanwhile.
    /// </summary>
    Leaving = 5,
}

/// <summary>A member as this agent sees it (groups.md §4: invited → joining → connected → left | removed).</summary>
internal enum MemberStatus
{
    Invited = 1,
    Joining = 2,
    Connected = 3,
    Left = 4,
    Removed = 5,
    Rejected = 6,
    /// <summary>Its introduction to us failed for good (G_ADD_ERR from the introducer): known, never connected.</summary>
    Failed = 7,
}

internal enum InvitationStatus
{
    Pending = 1,
    Accepted = 2,
    Rejected = 3,
}

/// <summary>An introduction run by the inviter (groups.md §4: pending → invitations received → forwarded → connected | failed).</summary>
internal enum IntroductionStatus
{
    Pending = 1,
    InvitationsReceived = 2,
    Forwarded = 3,
    Connected = 4,
    Failed = 5,
}

/// <summary>A member as a bridge of our leave (<c>members.bridge</c>, groups.md §6.7). Stored numbers, frozen.</summary>
internal enum BridgeState
{
    None = 0,
    Awaited = 1,
    GivenUp = 2,
}

internal sealed record GroupRecord(
    string Alias, byte[] GroupId, byte[] MemberId, int Clvl, byte[] Info, GroupStatus Status, string InviterConn, long LastSeq, byte[] LastHash);

internal sealed record MemberRecord(
    long Id, string GroupAlias, byte[]? MemberId, string DirectAlias, string GroupConn, int Clvl, MemberStatus Status,
    bool InvitedByUs, byte[]? InvId, byte[]? IntroId, string IntroducerConn, bool HelloSent, bool AllSent, long LastSeq, byte[] LastHash,
    bool ChainKnown = false)
{
    public bool IsLive => Status is MemberStatus.Invited or MemberStatus.Joining or MemberStatus.Connected;

    /// <summary>
    /// Whether <see cref="LastSeq"/> is where the member's chain stands for us: we have one of its messages, or its
    /// introducer told us its position (G_HEAD, groups.md §6.6.1). Without it, its first message starts the chain.
    /// </summary>
    public bool HasChainHead => LastSeq > 0 || ChainKnown;
}

internal sealed record InvitationRecord(
    byte[] InvId, string DirectAlias, byte[] GroupId, byte[] MemberId, int Clvl, string QueueInfo, byte[] Info, InvitationStatus Status);

internal sealed record IntroductionRecord(
    string GroupAlias, byte[] IntroId, long Invitee, long Member, IntroductionStatus Status, bool ConInvitee, bool ConMember);
