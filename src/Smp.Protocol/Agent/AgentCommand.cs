using Smp.Protocol.Encodings;

namespace Smp.Protocol.Agent;

/// <summary>Who sends a command of the client protocol (agent.md §3).</summary>
public enum AgentParty
{
    /// <summary>A client (app, terminal, test) talking to its agent.</summary>
    Client = 1,
    /// <summary>The agent answering or notifying its client.</summary>
    Agent = 2,
}

/// <summary>Keywords of the client protocol. Numeric values are frozen; client commands below 30, agent events from 30.</summary>
public enum AgentCommandKind
{
    New = 1,
    Join = 2,
    Sub = 3,
    SubAll = 4,
    Send = 5,
    Off = 6,
    Del = 7,
    GNew = 11,
    GAdd = 12,
    GJoin = 13,
    GReject = 14,
    GSend = 15,
    GLeave = 16,
    GMDel = 17,
    GDel = 18,
    GMembers = 19,

    Inv = 30,
    Con = 31,
    End = 32,
    Ok = 33,
    Sent = 34,
    Msg = 35,
    Err = 36,
    Down = 37,
    Up = 38,
    GInv = 41,
    GCon = 42,
    GAll = 43,
    GSent = 44,
    GMsg = 45,
    GLeft = 46,
    GMDeleted = 47,
    GRemoved = 48,
    GEmpty = 49,
    GDeleted = 50,
    GRejected = 51,
    GMem = 52,
    GMFailed = 53,
    GMInfo = 54,
    /// <summary>GINFO, a client command numbered after the events (the numbers below 30 were given out).</summary>
    GInfo = 55,
    GFMsg = 57,
    GHMsg = 58,
}

/// <summary>A member's state as <c>GMEM</c> reports it (groups.md §2, §4). Values are frozen.</summary>
public enum GroupMemberStatus
{
    Invited = 1,
    Joining = 2,
    Connected = 3,
    Left = 4,
    Removed = 5,
    /// <summary>Its introduction to us failed or timed out (ours, groups.md §6.5): known, never connected.</summary>
    Failed = 6,
}

public static class GroupMemberStatuses
{
    /// <summary>Invited, joining or connected: still a member. Left, removed and failed ones are departed.</summary>
    public static bool IsLive(this GroupMemberStatus status) =>
        status is GroupMemberStatus.Invited or GroupMemberStatus.Joining or GroupMemberStatus.Connected;
}

/// <summary>
/// One command or event of the client protocol (agent.md §3, groups.md §2), both directions in one type as
/// the parser reads both. Aliases are the client's names for connections and groups; ids are raw bytes.
/// </summary>
public abstract record AgentCommand(AgentCommandKind Kind)
{
    public AgentParty Party => Kind < AgentCommandKind.Inv || Kind == AgentCommandKind.GInfo ? AgentParty.Client : AgentParty.Agent;

    /// <summary>
    /// Client commands that may come with an empty alias line: the agent makes one up (NEW, JOIN, GNEW, GJOIN)
    /// or none is needed (SUBALL). Agent events are not restricted: ERR, DOWN and UP often have none.
    /// </summary>
    public bool AllowsEmptyAlias => Party == AgentParty.Agent || Kind is AgentCommandKind.New or AgentCommandKind.Join
        or AgentCommandKind.GNew or AgentCommandKind.GJoin or AgentCommandKind.SubAll;

    /// <summary>A copy with this body, for the kinds that carry one (SEND, GNEW, GJOIN, GSEND, MSG, GINV, GMSG, GMEM, GMINFO).</summary>
    public virtual AgentCommand WithBody(ReadOnlyMemory<byte> body) => throw new InvalidOperationException($"{Kind} has no body");

    // client → agent

    public sealed record New() : AgentCommand(AgentCommandKind.New);

    public sealed record Join(SmpQueueInfo QueueInfo, bool NoReply = false) : AgentCommand(AgentCommandKind.Join);

    public sealed record Sub() : AgentCommand(AgentCommandKind.Sub);

    /// <summary>SUBALL: take over every connection and group (the reference cannot parse it; we can).</summary>
    public sealed record SubAll() : AgentCommand(AgentCommandKind.SubAll);

    public sealed record Send(ReadOnlyMemory<byte> Body) : AgentCommand(AgentCommandKind.Send)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { Body = body };
    }

    public sealed record Off() : AgentCommand(AgentCommandKind.Off);

    public sealed record Del() : AgentCommand(AgentCommandKind.Del);

    /// <summary>GNEW: the group info (the body) and, optionally, our own member info (groups.md §2; empty = none).</summary>
    public sealed record GNew(ReadOnlyMemory<byte> GroupInfo, ReadOnlyMemory<byte> MemberInfo = default) : AgentCommand(AgentCommandKind.GNew)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { GroupInfo = body };
    }

    public sealed record GAdd(string MemberAlias) : AgentCommand(AgentCommandKind.GAdd);

    /// <summary>GJOIN: accepts an invitation, optionally with our own member info as the body (empty = none).</summary>
    public sealed record GJoin(byte[] InvitationId, ReadOnlyMemory<byte> MemberInfo = default) : AgentCommand(AgentCommandKind.GJoin)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { MemberInfo = body };
    }

    public sealed record GReject(byte[] InvitationId) : AgentCommand(AgentCommandKind.GReject);

    public sealed record GSend(ReadOnlyMemory<byte> Body) : AgentCommand(AgentCommandKind.GSend)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { Body = body };
    }

    public sealed record GLeave() : AgentCommand(AgentCommandKind.GLeave);

    public sealed record GMDel(string MemberAlias) : AgentCommand(AgentCommandKind.GMDel);

    public sealed record GDel() : AgentCommand(AgentCommandKind.GDel);

    public sealed record GMembers() : AgentCommand(AgentCommandKind.GMembers);

    /// <summary>GINFO: our own member info in this group from now on, told to every member (groups.md §6.12).</summary>
    public sealed record GInfo(ReadOnlyMemory<byte> MemberInfo) : AgentCommand(AgentCommandKind.GInfo)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { MemberInfo = body };
    }

    // agent → client

    public sealed record Inv(SmpQueueInfo QueueInfo) : AgentCommand(AgentCommandKind.Inv);

    public sealed record Con() : AgentCommand(AgentCommandKind.Con);

    public sealed record End() : AgentCommand(AgentCommandKind.End);

    public sealed record Ok() : AgentCommand(AgentCommandKind.Ok);

    public sealed record Sent(long AgentMsgId) : AgentCommand(AgentCommandKind.Sent);

    /// <summary>
    /// A received message: its integrity, our id and time (R=), the server's id and time (B=), the sender's id
    /// and time (S=).
    /// </summary>
    public sealed record Msg(MsgIntegrity Integrity, long RecipientMsgId, DateTimeOffset RecipientTs, byte[] BrokerMsgId,
        DateTimeOffset BrokerTs, long SenderMsgId, DateTimeOffset SenderTs, ReadOnlyMemory<byte> Body) : AgentCommand(AgentCommandKind.Msg)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { Body = body };
    }

    public sealed record Err(AgentError Error) : AgentCommand(AgentCommandKind.Err);

    /// <summary>The agent lost its connection to this server; it reconnects by itself.</summary>
    public sealed record Down(SmpServerAddress Server) : AgentCommand(AgentCommandKind.Down);

    public sealed record Up(SmpServerAddress Server) : AgentCommand(AgentCommandKind.Up);

    public sealed record GInv(byte[] InvitationId, ReadOnlyMemory<byte> GroupInfo) : AgentCommand(AgentCommandKind.GInv)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { GroupInfo = body };
    }

    public sealed record GCon(string MemberAlias) : AgentCommand(AgentCommandKind.GCon);

    public sealed record GAll(string MemberAlias) : AgentCommand(AgentCommandKind.GAll);

    public sealed record GSent(byte[] GroupMsgId) : AgentCommand(AgentCommandKind.GSent);

    /// <summary>A group message: its author (a member alias), integrity over the author's sequence, sequence and time (S=).</summary>
    public sealed record GMsg(string MemberAlias, MsgIntegrity Integrity, long AuthorSeq, DateTimeOffset AuthorTs,
        ReadOnlyMemory<byte> Body) : AgentCommand(AgentCommandKind.GMsg)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { Body = body };
    }

    public sealed record GLeft(string MemberAlias) : AgentCommand(AgentCommandKind.GLeft);

    public sealed record GMDeleted(string MemberAlias) : AgentCommand(AgentCommandKind.GMDeleted);

    public sealed record GRemoved(string MemberAlias) : AgentCommand(AgentCommandKind.GRemoved);

    public sealed record GEmpty() : AgentCommand(AgentCommandKind.GEmpty);

    public sealed record GDeleted(string MemberAlias) : AgentCommand(AgentCommandKind.GDeleted);

    public sealed record GRejected(string MemberAlias) : AgentCommand(AgentCommandKind.GRejected);

    /// <summary>One GMEMBERS line; <see cref="Info"/> is the member's own info (G_INFO), empty while none came.</summary>
    public sealed record GMem(string MemberAlias, byte[] MemberId, GroupMemberStatus Status, ReadOnlyMemory<byte> Info = default)
        : AgentCommand(AgentCommandKind.GMem)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { Info = body };
    }

    /// <summary>That member told us its own info (G_INFO, groups.md §6.12): a display name, a profile; opaque.</summary>
    public sealed record GMInfo(string MemberAlias, ReadOnlyMemory<byte> Info) : AgentCommand(AgentCommandKind.GMInfo)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { Info = body };
    }

    /// <summary>The introduction to that member failed for good (groups.md §6.5); it stays unconnected.</summary>
    public sealed record GMFailed(string MemberAlias, GroupAddErrorReason Reason) : AgentCommand(AgentCommandKind.GMFailed);

    /// <summary>
    /// GFMSG: a group message that our introducer forwarded while its author and we were not connected yet
    /// (groups.md §6.6.1). <see cref="Author"/> is a <see cref="GroupAuthor"/>: the author's member alias, or
    /// '#' and its member id while it has no alias here yet.
    /// </summary>
    public sealed record GFMsg(string Author, MsgIntegrity Integrity, long AuthorSeq, DateTimeOffset AuthorTs,
        ReadOnlyMemory<byte> Body) : AgentCommand(AgentCommandKind.GFMsg)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { Body = body };
    }

    /// <summary>
    /// GHMSG: a group message sent before we joined, from the history our inviter gave us (groups.md §6.6.2).
    /// <see cref="Author"/> as in <see cref="GFMsg"/>.
    /// </summary>
    public sealed record GHMsg(string Author, MsgIntegrity Integrity, long AuthorSeq, DateTimeOffset AuthorTs,
        ReadOnlyMemory<byte> Body) : AgentCommand(AgentCommandKind.GHMsg)
    {
        public override AgentCommand WithBody(ReadOnlyMemory<byte> body) => this with { Body = body };
    }
}

/// <summary>
/// The author of a forwarded or history message as the client sees it: <c>author = alias / "#" b64(memberId)</c>.
/// '#' is outside the alias alphabet, so the two cannot be confused; the id form is used for an author that
/// has no member alias here (one we were never introduced to, or not yet).
/// </summary>
public static class GroupAuthor
{
    public static string OfMemberId(byte[] memberId) => "#" + Convert.ToBase64String(memberId);

    public static bool IsValid(ReadOnlySpan<byte> author)
    {
        if (author.IsEmpty) return false;
        if (author[0] != (byte)'#') return AgentAlias.IsValid(author);
        var id = author[1..];
        return id.Length <= B64.EncodedLength(WireReader.MaxIdBytes) && B64.TryDecode(id, out var bytes) && bytes.Length > 0;
    }
}

/// <summary>
/// Connection and group aliases: <c>1*64(ALPHA / DIGIT / "_" / "-" / "." / "=" / "+" / "/")</c>, so b64 ids fit.
/// Stricter than the reference, which takes any bytes: ours end up in logs, file names and SQL.
/// </summary>
public static class AgentAlias
{
    public const int MaxLength = 64;

    public static bool IsValid(ReadOnlySpan<byte> alias)
    {
        if (alias.IsEmpty || alias.Length > MaxLength) return false;
        foreach (var b in alias)
            if (b is not ((>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9')
                or (byte)'_' or (byte)'-' or (byte)'.' or (byte)'=' or (byte)'+' or (byte)'/'))
                return false;
        return true;
    }

    public static bool IsValid(string alias) => alias.Length <= MaxLength && alias.All(c => c < 0x80) && IsValid(System.Text.Encoding.ASCII.GetBytes(alias));
}
