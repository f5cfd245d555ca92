using System.Security.Cryptography;
using Smp.Agent.Connections;
using Smp.Agent.Runtime;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;

namespace Smp.Agent.Groups;

/// <summary>
/// Group envelopes received (groups.md §4, §7). Each is attributed to the member its connection is bound
/// to, never to an id inside it; one that does not fit the connection or the member's state returns false
/// (the connection layer reports A_PROHIBITED) before anything is changed. Pure store work over
/// <see cref="IConnections"/>: no network, so it is unit-tested over a store alone.
/// </summary>
internal sealed partial class GroupEnvelopeHandler(IConnections conns)
{
    private readonly IConnections _conns = conns;

    public bool Apply(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message message, Effects fx)
    {
        var envelope = message.Envelope;
        if (conn.Kind == ConnectionKind.Direct)
        {
            return envelope switch
            {
                AgentEnvelope.GInv inv => ReceiveInvitation(tx, conn, inv, fx),
                AgentEnvelope.GReject reject => OnReject(tx, conn, reject, fx),
                _ => false,
            };
        }

        var g = tx.GetGroup(conn.Owner);
        var from = tx.MemberByConn(conn.Alias);
        if (g is null || from is null || g.Status is GroupStatus.Deleted) return false;
        fx.Dispatch.Add(g.Alias);
        return envelope switch
        {
            AgentEnvelope.GJoin j => OnJoin(tx, g, from, j, fx),
            AgentEnvelope.GHello h => OnHello(tx, g, from, h, fx),
            AgentEnvelope.GMem m => OnMember(tx, g, conn, from, m, fx),
            AgentEnvelope.GInvMem i => OnInvitationsForMember(tx, g, from, i, fx),
            AgentEnvelope.GMemInv i => OnNewMember(tx, g, from, i, fx),
            AgentEnvelope.GCon c => OnIntroductionResult(tx, g, from, c.IntroductionId, failure: null, fx),
            AgentEnvelope.GAddErr e => OnIntroductionResult(tx, g, from, e.IntroductionId, e.Reason, fx)
                                       || OnIntroductionFailed(tx, g, from, e, fx),
            AgentEnvelope.GAll => OnAll(tx, g, from),
            AgentEnvelope.GMsg m => OnGroupMessage(tx, g, from, message, m, fx),
            AgentEnvelope.GFwd f => OnForwarded(tx, g, from, f),
            AgentEnvelope.GHist h => OnHistory(tx, g, from, h),
            AgentEnvelope.GLeft => OnLeft(tx, g, from, fx),
            AgentEnvelope.GMDel d => OnRemove(tx, g, from, d.MemberId, fx),
            AgentEnvelope.GMDeleted d => OnRemoved(tx, g, from, d.MemberId, fx),
            AgentEnvelope.GDel => OnDeleted(tx, g, from, fx),
            _ => false,
        };
    }

    internal static void GroupEvent(StoreTx tx, GroupRecord g, AgentCommand notification) => tx.InsertEvent(g.Alias, "", AgentWire.Payload(notification));

    /// <summary>G_INV on a direct connection: stored; the client decides with GJOIN or GREJECT (step 2).</summary>
    private bool ReceiveInvitation(StoreTx tx, ConnectionRecord conn, AgentEnvelope.GInv inv, Effects fx)
    {
        if (conn.Status != ConnectionStatus.Active || tx.GetInvitation(inv.InvitationId) is not null) return false;
        tx.InsertInvitation(new InvitationRecord(inv.InvitationId, conn.Alias, inv.GroupId, inv.MemberId, inv.ConnectionLevel,
            inv.QueueInfo.ToString(), inv.GroupInfo.ToArray(), InvitationStatus.Pending));
        tx.InsertEvent(conn.Alias, "", AgentWire.Payload(new AgentCommand.GInv(inv.InvitationId, inv.GroupInfo)));
        fx.Dispatch.Add(conn.Alias);
        return true;
    }

    /// <summary>G_REJECT on the direct connection we invited through: the invitee declined.</summary>
    private bool OnReject(StoreTx tx, ConnectionRecord conn, AgentEnvelope.GReject reject, Effects fx)
    {
        var member = tx.MemberByInvitation(reject.InvitationId);
        if (member is null || member.DirectAlias != conn.Alias || member.Status != MemberStatus.Invited) return false;
        var g = tx.GetGroup(member.GroupAlias);
        if (g is null) return false;
        DropMemberConnection(tx, member, fx);
        // A group we have left or deleted has nothing to tell about it.
        if (g.Status != GroupStatus.Active) return true;
        tx.SetMemberStatus(member.Id, MemberStatus.Rejected);
        GroupEvent(tx, g, new AgentCommand.GRejected(member.DirectAlias));
        fx.Dispatch.Add(g.Alias);
        return true;
    }

    /// <summary>G_JOIN at the inviter: the invitee is connected; introduce it to every connected member (steps 3–4).</summary>
    private bool OnJoin(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GJoin join, Effects fx)
    {
        if (g.Status != GroupStatus.Active || !from.InvitedByUs || from.Status != MemberStatus.Invited
            || from.InvId is null || !from.InvId.AsSpan().SequenceEqual(join.InvitationId)
            || from.MemberId is null || !from.MemberId.AsSpan().SequenceEqual(join.MemberId))
            return false;
        tx.SetMemberStatus(from.Id, MemberStatus.Connected);
        tx.SetMemberFlags(from.Id, helloSent: true);
        _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GHello(g.MemberId), fx);
        GroupEvent(tx, g, new AgentCommand.GCon(from.DirectAlias));
        foreach (var m in tx.ListMembers(g.Alias).Where(m => m.Status == MemberStatus.Connected && m.Id != from.Id && m.MemberId is not null))
        {
            var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
            tx.InsertIntroduction(new IntroductionRecord(g.Alias, introId, from.Id, m.Id, IntroductionStatus.Pending, false, false));
            _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GMem(introId, m.MemberId!, m.Clvl), fx);
        }
        // After the G_MEMs, so the newcomer knows the authors we are connected to; before G_ALL (§6.6.2).
        SendHistory(tx, g, from, fx);
        CheckAllConnected(tx, g, from.Id, fx);
        return true;
    }

    /// <summary>
    /// At the inviter: once every introduction of the invitee is resolved, GALL here and G_ALL to it.
    /// A failed introduction counts as resolved so that one unreachable member cannot hold a join for ever.
    /// </summary>
    internal void CheckAllConnected(StoreTx tx, GroupRecord g, long inviteeRow, Effects fx)
    {
        var invitee = tx.GetMember(inviteeRow);
        if (invitee is null || invitee.Status != MemberStatus.Connected || !invitee.InvitedByUs || invitee.AllSent) return;
        var intros = tx.IntroductionsOf(g.Alias, inviteeRow).Where(i => i.Invitee == inviteeRow);
        if (intros.Any(i => i.Status is not (IntroductionStatus.Connected or IntroductionStatus.Failed))) return;
        tx.SetMemberFlags(inviteeRow, allSent: true);
        _conns.Queue(tx, invitee.GroupConn, new AgentEnvelope.GAll(), fx);
        GroupEvent(tx, g, new AgentCommand.GAll(invitee.DirectAlias));
    }

    /// <summary>G_HELLO: the member on this connection is connected; the joiner side says hello first, the other answers.</summary>
    private bool OnHello(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GHello hello, Effects fx)
    {
        if (from.Status != MemberStatus.Joining) return false;
        if (from.MemberId is null)
        {
            // Our inviter's first envelope tells us its member id (nobody else's connection lacks one).
            if (g.InviterConn != from.GroupConn || IsKnownMemberId(tx, g, hello.MemberId)) return false;
            tx.SetMemberId(from.Id, hello.MemberId);
        }
        else if (!from.MemberId.AsSpan().SequenceEqual(hello.MemberId))
        {
            return false;
        }
        tx.SetMemberStatus(from.Id, MemberStatus.Connected);
        if (!from.HelloSent)
        {
            _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GHello(g.MemberId), fx);
            tx.SetMemberFlags(from.Id, helloSent: true);
        }
        if (from.IntroId is not null && from.IntroducerConn.Length > 0) _conns.Queue(tx, from.IntroducerConn, new AgentEnvelope.GCon(from.IntroId), fx);
        GroupEvent(tx, g, new AgentCommand.GCon(from.DirectAlias));
        return true;
    }

    /// <summary>
    /// An introduction naming a member id we already know is refused (A_PROHIBITED, nothing changes), and
    /// the introducer is told with G_ADD_ERR so that it does not wait for it.
    /// </summary>
    private bool RefuseIntroduction(StoreTx tx, MemberRecord introducer, byte[] introId, Effects fx)
    {
        _conns.Queue(tx, introducer.GroupConn, new AgentEnvelope.GAddErr(introId, GroupAddErrorReason.DuplicateMember), fx);
        return false;
    }

    private bool IsKnownMemberId(StoreTx tx, GroupRecord g, byte[] memberId) =>
        g.MemberId.AsSpan().SequenceEqual(memberId) || tx.MemberById(g.Alias, memberId) is not null;

    /// <summary>G_MEM at the invitee, from its inviter only: make the queues the existing member will join (step 4).</summary>
    private bool OnMember(StoreTx tx, GroupRecord g, ConnectionRecord conn, MemberRecord from, AgentEnvelope.GMem m, Effects fx)
    {
        if (g.Status != GroupStatus.Active || g.InviterConn != conn.Alias || from.Status != MemberStatus.Connected) return false;
        if (IsKnownMemberId(tx, g, m.MemberId)) return RefuseIntroduction(tx, from, m.IntroductionId, fx);
        var row = tx.InsertMember(new MemberRecord(0, g.Alias, m.MemberId, "", "", m.ConnectionLevel, MemberStatus.Joining, false, null,
            m.IntroductionId, conn.Alias, false, false, 0, []));
        tx.InsertJob(conn.Alias, JobKind.GroupIntroInvite, BitConverter.GetBytes(row));
        fx.Kick.Add(conn.Alias);
        return true;
    }

    /// <summary>G_INV_MEM at the inviter: forward the invitee's invitations to the existing member (step 4).</summary>
    private bool OnInvitationsForMember(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GInvMem inv, Effects fx)
    {
        var intro = tx.GetIntroduction(g.Alias, inv.IntroductionId);
        if (intro is null || intro.Invitee != from.Id) return false;
        // Timed out before the invitee's queues came (§6.5): the invitee has been told; nothing to forward.
        if (intro.Status == IntroductionStatus.Failed) return true;
        if (intro.Status != IntroductionStatus.Pending) return false;
        var member = tx.GetMember(intro.Member);
        if (member is null || member.Status != MemberStatus.Connected)
        {
            tx.UpdateIntroduction(g.Alias, inv.IntroductionId, IntroductionStatus.Failed);
            CheckAllConnected(tx, g, from.Id, fx);
            return true;
        }
        tx.UpdateIntroduction(g.Alias, inv.IntroductionId, IntroductionStatus.InvitationsReceived);
        _conns.Queue(tx, member.GroupConn, new AgentEnvelope.GMemInv(inv.IntroductionId, from.MemberId!, from.Clvl, inv.GroupQueueInfo, inv.DirectQueueInfo), fx);
        tx.UpdateIntroduction(g.Alias, inv.IntroductionId, IntroductionStatus.Forwarded);
        // Now the member knows the invitee: what the invitee sent before is replayed to it (§6.6.1).
        ReplayTo(tx, g, from, member, fx);
        return true;
    }

    /// <summary>G_MEM_INV at an existing member: join the newcomer's group and direct queues (step 4).</summary>
    private bool OnNewMember(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GMemInv inv, Effects fx)
    {
        if (g.Status != GroupStatus.Active || from.Status != MemberStatus.Connected) return false;
        if (IsKnownMemberId(tx, g, inv.MemberId)) return RefuseIntroduction(tx, from, inv.IntroductionId, fx);
        if (!RsaPublicKey.TryParse(inv.GroupQueueInfo.EncryptionKey, out var groupKey)) return false;
        using var gk = groupKey!;
        if (!RsaPublicKey.TryParse(inv.DirectQueueInfo.EncryptionKey, out var directKey)) return false;
        using var dk = directKey!;
        var groupConn = GroupLayer.NewGroupConnAlias();
        var direct = Keys.NewAlias();
        _conns.AddJoining(tx, groupConn, ConnectionKind.Group, g.Alias, inv.GroupQueueInfo, gk, reply: true, "", fx);
        _conns.AddJoining(tx, direct, ConnectionKind.Direct, "", inv.DirectQueueInfo, dk, reply: true, "", fx);
        tx.InsertMember(new MemberRecord(0, g.Alias, inv.MemberId, direct, groupConn, inv.ConnectionLevel, MemberStatus.Joining, false, null,
            inv.IntroductionId, from.GroupConn, true, false, 0, []));
        _conns.Queue(tx, groupConn, new AgentEnvelope.GHello(g.MemberId), fx);
        fx.Inherit.Add((direct, g.Alias));
        return true;
    }

    /// <summary>G_CON / G_ADD_ERR at the inviter, from either side of an introduction it runs.</summary>
    private bool OnIntroductionResult(StoreTx tx, GroupRecord g, MemberRecord from, byte[] introId, GroupAddErrorReason? failure, Effects fx)
    {
        var intro = tx.GetIntroduction(g.Alias, introId);
        if (intro is null || (intro.Invitee != from.Id && intro.Member != from.Id)) return false;
        if (intro.Status is IntroductionStatus.Connected or IntroductionStatus.Failed) return true;
        if (failure is { } reason)
        {
            tx.UpdateIntroduction(g.Alias, introId, IntroductionStatus.Failed);
            // The other member gives up too, so both ends agree (§6.5).
            TellFailed(tx, intro, reason, fx, except: from.Id);
        }
        else
        {
            var conInvitee = intro.ConInvitee || intro.Invitee == from.Id;
            var conMember = intro.ConMember || intro.Member == from.Id;
            tx.UpdateIntroduction(g.Alias, introId, conInvitee && conMember ? IntroductionStatus.Connected : intro.Status, conInvitee, conMember);
        }
        CheckAllConnected(tx, g, intro.Invitee, fx);
        return true;
    }

    /// <summary>
    /// G_ADD_ERR at a member introduced by the sender (ours, groups.md §6.5): the introducer gave the
    /// introduction up, so both members give up the member it was making, whatever their state, and agree.
    /// </summary>
    private bool OnIntroductionFailed(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GAddErr e, Effects fx)
    {
        if (from.Status != MemberStatus.Connected) return false;
        var member = tx.MemberByIntroduction(g.Alias, e.IntroductionId, from.GroupConn);
        if (member is null) return false;
        if (member.IsLive) GiveUp(tx, g, member, e.Reason, fx);
        return true;
    }

    /// <summary>A member whose introduction failed for good: its connection goes, it stays known as failed.</summary>
    private void GiveUp(StoreTx tx, GroupRecord g, MemberRecord member, GroupAddErrorReason reason, Effects fx)
    {
        DropMemberConnection(tx, member, fx);
        tx.SetMemberStatus(member.Id, MemberStatus.Failed);
        if (g.Status != GroupStatus.Active) return;
        // A member whose queues were never made has no alias the client could know it by.
        if (member.DirectAlias.Length > 0) GroupEvent(tx, g, new AgentCommand.GMFailed(member.DirectAlias, reason));
        CheckEmpty(tx, g, member);
        fx.Dispatch.Add(g.Alias);
    }

    /// <summary>
    /// The members of failed introduction <paramref name="intro"/> that have something to give up hear of it:
    /// the invitee, and the existing member once G_MEM_INV went to it; not <paramref name="except"/>, who told us.
    /// </summary>
    private void TellFailed(StoreTx tx, IntroductionRecord intro, GroupAddErrorReason reason, Effects fx, long except = 0)
    {
        var error = new AgentEnvelope.GAddErr(intro.IntroId, reason);
        long[] told = intro.Status == IntroductionStatus.Forwarded ? [intro.Invitee, intro.Member] : [intro.Invitee];
        foreach (var row in told)
            if (row != except && tx.GetMember(row) is { Status: MemberStatus.Connected } member) _conns.Queue(tx, member.GroupConn, error, fx);
    }

    /// <summary>
    /// A handshake of the group connection to a member being introduced to us failed for good: the
    /// introducer hears JOIN_FAILED at once instead of at its timeout, and we give the member up as if it had
    /// told us (groups.md §6.5). Other group connections (to our inviter) just report their ERR.
    /// </summary>
    internal void ConnectionFailed(StoreTx tx, ConnectionRecord conn, Effects fx)
    {
        var g = tx.GetGroup(conn.Owner);
        if (g is null || tx.MemberByConn(conn.Alias) is not { Status: MemberStatus.Joining, IntroId: not null } member || member.IntroducerConn.Length == 0) return;
        _conns.Queue(tx, member.IntroducerConn, new AgentEnvelope.GAddErr(member.IntroId, GroupAddErrorReason.JoinFailed), fx);
        GiveUp(tx, g, member, GroupAddErrorReason.JoinFailed, fx);
    }

    /// <summary>
    /// At the inviter: introductions started at <paramref name="cutoff"/> or before that are still unresolved
    /// fail with TIMEOUT; both members are told (G_ADD_ERR), and GALL follows where it was waiting only for them.
    /// </summary>
    internal void ExpireIntroductions(StoreTx tx, DateTime cutoff, DateTime unknownStart, Effects fx)
    {
        foreach (var intro in tx.IntroductionsStartedBefore(cutoff, unknownStart))
        {
            var g = tx.GetGroup(intro.GroupAlias);
            tx.UpdateIntroduction(intro.GroupAlias, intro.IntroId, IntroductionStatus.Failed);
            if (g is null || g.Status != GroupStatus.Active) continue;
            TellFailed(tx, intro, GroupAddErrorReason.Timeout, fx);
            fx.Dispatch.Add(g.Alias);
            CheckAllConnected(tx, g, intro.Invitee, fx);
        }
    }

    /// <summary>G_ALL at the invitee, from its inviter only.</summary>
    private bool OnAll(StoreTx tx, GroupRecord g, MemberRecord from)
    {
        if (g.InviterConn != from.GroupConn || from.Status != MemberStatus.Connected) return false;
        // History comes before G_ALL on this connection; anything later is not history (§6.6.2).
        tx.CloseHistoryIn(g.Alias);
        GroupEvent(tx, g, new AgentCommand.GAll(from.DirectAlias));
        return true;
    }

    /// <summary>G_MSG: duplicates dropped, the author's chain checked (step 5).</summary>
    private bool OnGroupMessage(StoreTx tx, GroupRecord g, MemberRecord from, AgentPlaintext.Message message, AgentEnvelope.GMsg m, Effects fx)
    {
        if (from.Status != MemberStatus.Connected || g.Status != GroupStatus.Active) return false;
        if (!tx.MarkGroupMsgSeen(from.Id, m.GroupMsgId)) return true;
        // The first message we get from an author is its chain's start for us: a member who joined later
        // cannot have had the earlier ones, so a gap before it is not a loss (groups.md: messages).
        var integrity = from.LastSeq == 0 ? MsgIntegrity.Ok : MsgIntegrity.Check(from.LastSeq, from.LastHash, m.AuthorSeq, m.PrevHash);
        tx.SetMemberChain(from.Id, Math.Max(m.AuthorSeq, from.LastSeq), GroupLayer.GroupMsgHash(m));
        GroupEvent(tx, g, new AgentCommand.GMsg(from.DirectAlias, integrity, m.AuthorSeq, message.Timestamp, m.Body));
        if (from.MemberId is { } author)
        {
            tx.AppendHistory(g.Alias, author, message.Timestamp, m, HistorySize);
            Forward(tx, g, from, message.Timestamp, m, fx);
        }
        return true;
    }

    /// <summary>G_LEFT: the sender is gone; its connection with us goes too (step 6).</summary>
    private bool OnLeft(StoreTx tx, GroupRecord g, MemberRecord from, Effects fx)
    {
        if (!from.IsLive) return false;
        tx.SetMemberStatus(from.Id, MemberStatus.Left);
        DropMemberConnection(tx, from, fx);
        FailIntroductionsOf(tx, g.Alias, from.Id, fx);
        GroupEvent(tx, g, new AgentCommand.GLeft(from.DirectAlias));
        CheckEmpty(tx, g, from);
        return true;
    }

    /// <summary>G_MDEL: the sender removes a member; when that is us we are out (step 7).</summary>
    private bool OnRemove(StoreTx tx, GroupRecord g, MemberRecord from, byte[] memberId, Effects fx)
    {
        if (from.Status != MemberStatus.Connected) return false;
        if (g.MemberId.AsSpan().SequenceEqual(memberId))
        {
            tx.SetMemberStatus(from.Id, MemberStatus.Removed);
            DropMemberConnection(tx, from, fx);
            if (g.Status == GroupStatus.Active) tx.SetGroupStatus(g.Alias, GroupStatus.Removed);
            GroupEvent(tx, g, new AgentCommand.GRemoved(from.DirectAlias));
            CheckEmpty(tx, g, from);
            return true;
        }
        if (g.Status != GroupStatus.Active) return true;
        var target = tx.MemberById(g.Alias, memberId);
        if (target is not null && target.IsLive)
        {
            // Tell the removed member we dropped it, then drop our connection with it.
            if (target.Status == MemberStatus.Connected) _conns.Queue(tx, target.GroupConn, new AgentEnvelope.GMDeleted(memberId), fx);
            DropMemberConnection(tx, target, fx);
            tx.SetMemberStatus(target.Id, MemberStatus.Removed);
            FailIntroductionsOf(tx, g.Alias, target.Id, fx);
            GroupEvent(tx, g, new AgentCommand.GMDeleted(target.DirectAlias));
            CheckEmpty(tx, g, target);
        }
        _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GMDeleted(memberId), fx);
        return true;
    }

    /// <summary>
    /// G_MDELETED: to the remover it acknowledges a removal; to the removed member it says the sender dropped it.
    /// </summary>
    private bool OnRemoved(StoreTx tx, GroupRecord g, MemberRecord from, byte[] memberId, Effects fx)
    {
        if (g.MemberId.AsSpan().SequenceEqual(memberId))
        {
            if (!from.IsLive) return true;
            tx.SetMemberStatus(from.Id, MemberStatus.Removed);
            DropMemberConnection(tx, from, fx);
            GroupEvent(tx, g, new AgentCommand.GMDeleted(from.DirectAlias));
            CheckEmpty(tx, g, from);
            return true;
        }
        return tx.MemberById(g.Alias, memberId) is { Status: MemberStatus.Removed };
    }

    /// <summary>G_DEL: the group is gone for everyone; all our group connections go (step 8).</summary>
    private bool OnDeleted(StoreTx tx, GroupRecord g, MemberRecord from, Effects fx)
    {
        if (from.Status != MemberStatus.Connected) return false;
        foreach (var m in tx.ListMembers(g.Alias).Where(m => m.IsLive)) DropMemberConnection(tx, m, fx);
        tx.SetGroupStatus(g.Alias, GroupStatus.Deleted);
        GroupEvent(tx, g, new AgentCommand.GDeleted(from.DirectAlias));
        return true;
    }

    /// <summary>Introductions that involve a member who is gone can no longer complete.</summary>
    internal void FailIntroductionsOf(StoreTx tx, string gid, long memberRow, Effects fx)
    {
        var g = tx.GetGroup(gid);
        if (g is null) return;
        foreach (var i in tx.IntroductionsOf(gid, memberRow).Where(i => i.Status is not (IntroductionStatus.Connected or IntroductionStatus.Failed)))
        {
            tx.UpdateIntroduction(gid, i.IntroId, IntroductionStatus.Failed);
            if (i.Invitee != memberRow) CheckAllConnected(tx, g, i.Invitee, fx);
        }
    }

    /// <summary>GEMPTY when the member that just went was the last one we were connected to: once, at that moment.</summary>
    internal static void CheckEmpty(StoreTx tx, GroupRecord g, MemberRecord gone)
    {
        if (gone.Status != MemberStatus.Connected || tx.ListMembers(g.Alias).Any(m => m.Status == MemberStatus.Connected)) return;
        GroupEvent(tx, g, new AgentCommand.GEmpty());
    }

    /// <summary>Queues the end of a member's group connection after whatever is already queued on it.</summary>
    internal void DropMemberConnection(StoreTx tx, MemberRecord m, Effects fx) =>
        // A handshake still under way has nothing worth finishing: HELLO might otherwise retry for days first.
        _conns.Drop(tx, m.GroupConn, abandonQueued: m.Status != MemberStatus.Connected, fx);
}
