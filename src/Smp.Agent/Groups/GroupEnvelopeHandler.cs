using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
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
internal sealed class GroupEnvelopeHandler(IConnections conns, bool views = true, int historySize = AgentOptions.DefaultGroupHistorySize,
    ILogger? log = null)
{
    private readonly IConnections _conns = conns;

    /// <summary>Debug lines for what a race decides without a word to anyone (§6.11): the simulation's trace.</summary>
    private readonly ILogger _log = log ?? NullLogger.Instance;

    /// <summary>Messages that do not come from their author: forwarded and history (groups.md §6.6.1–2).</summary>
    internal GroupRelay Relay { get; } = new(conns, historySize, log ?? NullLogger.Instance);

    /// <summary>Who is who: member infos (groups.md §6.12).</summary>
    internal MemberInfos Infos { get; } = new(conns);

    /// <summary>Whether we send G_VIEW (AgentOptions.GroupViews); views received are used either way.</summary>
    private readonly bool _views = views;

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
        if (g.Status != GroupStatus.Leaving) return ApplyToGroup(tx, g, conn, from, message, fx);
        // Leaving (§6.7): only what the introductions we finish need; the rest is taken and dropped.
        if (!ServesLeaving(envelope))
        {
            var (introId, introduced) = envelope switch
            {
                AgentEnvelope.GMem m => (m.IntroductionId, m.MemberId),
                AgentEnvelope.GMemInv i => (i.IntroductionId, i.MemberId),
                _ => (null, null),
            };
            var introducesUs = introId is not null && from.Status == MemberStatus.Connected;
            // Of two leavers each introducing its newcomer to the other, the one with the smaller id takes the
            // other's introduction and stays until it can introduce the newcomers to each other: nobody else is
            // connected to both (seed 7004). So it does for our invitee, who may be the only link to members it
            // brought in (seed 720). It stays only for that member (its bridge duty, HasDuties). One it cannot
            // take (§7) is refused below, quietly as everything while leaving.
            if (introducesUs && IntroductionRule.BridgesWhileLeaving(g.MemberId, from.MemberId!, from.InvitedByUs)
                && ApplyToGroup(tx, g, conn, from, message, fx))
            {
                if (tx.MemberById(g.Alias, introduced!) is { IsLive: true } bridge && bridge.IntroId.AsSpan().SequenceEqual(introId)) tx.SetBridge(bridge.Id);
                if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: introduction of {Member} by {From} taken while leaving, as a bridge", Short(g.MemberId), Short(introduced), Short(from.MemberId));
                FinishLeaving(tx, g.Alias, fx);
                return true;
            }
            if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: {Envelope} from {From} dropped while leaving", Short(g.MemberId), envelope.GetType().Name, Short(from.MemberId));
            // An introduction of us we will not take ends at its introducer now: else it waits for us, and when it
            // is leaving too, each of two leavers introducing its newcomer to the other waits for ever (seed 6402).
            if (introducesUs)
                _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GAddErr(introId!, GroupAddErrorReason.MemberGone), fx);
            return true;
        }
        var applied = ApplyToGroup(tx, g, conn, from, message, fx);
        FinishLeaving(tx, g.Alias, fx);
        return applied;
    }

    private static bool ServesLeaving(AgentEnvelope e) =>
        e is AgentEnvelope.GJoin or AgentEnvelope.GHello or AgentEnvelope.GInvMem or AgentEnvelope.GCon or AgentEnvelope.GAddErr
            or AgentEnvelope.GMsg or AgentEnvelope.GFwd or AgentEnvelope.GLeft or AgentEnvelope.GMDel or AgentEnvelope.GMDeleted or AgentEnvelope.GDel
            // A leaving member may be the last one connected to two members that do not know each other yet.
            or AgentEnvelope.GView
            // What we said as a member is ours to give again (§6.6.1), also on our way out.
            or AgentEnvelope.GResend
            // Only sets a chain head: a leaver still delivers what it is forwarded (§6.6.1).
            or AgentEnvelope.GHead;

    private bool ApplyToGroup(StoreTx tx, GroupRecord g, ConnectionRecord conn, MemberRecord from, AgentPlaintext.Message message, Effects fx)
    {
        var applied = ApplyEnvelope(tx, g, conn, from, message, fx);
        if (_log.IsEnabled(LogLevel.Debug))
            _log.LogDebug("group {Me}: {Envelope}{Author} from {From} ({Status}) {Result}", Short(g.MemberId), message.Envelope.GetType().Name,
                message.Envelope switch
                {
                    AgentEnvelope.GMsg m => $" seq {m.AuthorSeq}",
                    AgentEnvelope.GFwd f => $" of {Short(f.AuthorMemberId)} seq {f.Message.AuthorSeq}",
                    AgentEnvelope.GHist h => $" of {Short(h.AuthorMemberId)} seq {h.Message.AuthorSeq}",
                    AgentEnvelope.GMem m => $" of {Short(m.MemberId)}",
                    AgentEnvelope.GMemInv m => $" of {Short(m.MemberId)}",
                    AgentEnvelope.GHead h => $" of {string.Join(", ", h.Heads.Select(e => $"{Short(e.MemberId)} seq {e.LastSeq}"))}",
                    _ => "",
                }, Short(from.MemberId), from.Status, applied ? "applied" : "refused");
        return applied;
    }

    private bool ApplyEnvelope(StoreTx tx, GroupRecord g, ConnectionRecord conn, MemberRecord from, AgentPlaintext.Message message, Effects fx)
    {
        var envelope = message.Envelope;
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
            AgentEnvelope.GFwd f => Relay.OnForwarded(tx, g, from, f, fx),
            AgentEnvelope.GHist h => Relay.OnHistory(tx, g, from, h, fx),
            AgentEnvelope.GResend r => Relay.OnResend(tx, g, from, r, fx),
            AgentEnvelope.GResent r => Relay.OnResent(tx, g, from, r, fx),
            AgentEnvelope.GHead h => Relay.OnHead(tx, g, from, h),
            AgentEnvelope.GLeft => OnLeft(tx, g, from, fx),
            AgentEnvelope.GMDel d => OnRemove(tx, g, from, d.MemberId, fx),
            AgentEnvelope.GMDeleted d => OnRemoved(tx, g, from, d.MemberId, fx),
            AgentEnvelope.GDel => OnDeleted(tx, g, from, fx),
            AgentEnvelope.GView v => OnView(tx, g, from, v, fx),
            AgentEnvelope.GInfo i => MemberInfos.OnInfo(tx, g, from, i),
            _ => false,
        };
    }

    /// <summary>A notification to the group's client; none once it left (Leaving, §6.7).</summary>
    internal static void GroupEvent(StoreTx tx, GroupRecord g, AgentCommand notification)
    {
        if (g.Status != GroupStatus.Leaving) tx.InsertEvent(g.Alias, "", AgentWire.Payload(notification));
    }

    /// <summary>Whether the group is ours to run introductions in: active, or leaving once they end (§6.7).</summary>
    internal static bool Serving(GroupRecord g) => g.Status is GroupStatus.Active or GroupStatus.Leaving;

    /// <summary>
    /// GLEAVE (§6.7). Members we invited who already joined, and whose introductions to the others are not
    /// all resolved, would be left knowing nobody: we stay (Leaving) until GALL would come for each, then
    /// leave. Invitations not answered yet are withdrawn now; an invitee who answers later finds no queue.
    /// </summary>
    internal void BeginLeave(StoreTx tx, GroupRecord g, Effects fx)
    {
        foreach (var m in tx.ListMembers(g.Alias).Where(m => m.InvitedByUs && m.Status == MemberStatus.Invited && !Answered(tx, m)))
            Withdraw(tx, m, fx);
        StayForJoiningInviter(tx, g);
        if (!HasDuties(tx, g.Alias))
        {
            Farewell(tx, g.Alias, new AgentEnvelope.GLeft(), GroupStatus.Left, fx);
            return;
        }
        tx.SetGroupStatus(g.Alias, GroupStatus.Leaving);
    }

    /// <summary>A withdrawn invitation not answered yet: a later GJOIN or GREJECT finds none (GROUP UNKNOWN).</summary>
    private static bool OnWithdrawn(StoreTx tx, ConnectionRecord conn, InvitationRecord inv)
    {
        if (inv.DirectAlias != conn.Alias) return false;
        if (inv.Status == InvitationStatus.Pending) tx.SetInvitationStatus(inv.InvId, InvitationStatus.Rejected);
        return true;
    }

    /// <summary>
    /// Withdrawn after our GJOIN, before our inviter heard of it: nobody in the group knows us, so our join
    /// failed and the group is over here, as if our inviter had left us: GLEFT, then GROUP NOT_MEMBER.
    /// </summary>
    private bool OnWithdrawnAfterJoin(StoreTx tx, ConnectionRecord conn, MemberRecord inviter, Effects fx)
    {
        if (inviter.DirectAlias != conn.Alias || tx.GetGroup(inviter.GroupAlias) is not { } g || g.InviterConn != inviter.GroupConn) return false;
        if (inviter.Status == MemberStatus.Connected) return false;
        if (g.Status is not (GroupStatus.Active or GroupStatus.Leaving) || inviter.Status != MemberStatus.Joining) return true;
        JoinFailed(tx, g, inviter, fx);
        return true;
    }

    /// <summary>
    /// Our join of a group ends without our inviter ever connecting: the group is over here. Also while we
    /// leave (waiting for that join, <see cref="StayForJoiningInviter"/>); our client, which has left, hears nothing.
    /// </summary>
    private void JoinFailed(StoreTx tx, GroupRecord g, MemberRecord inviter, Effects fx)
    {
        // Members we invited meanwhile joined a group that knows neither of us: they go with us (§6.7).
        ReleaseNewcomers(tx, g, fx, all: true);
        DropMemberConnection(tx, inviter, fx);
        tx.SetMemberStatus(inviter.Id, MemberStatus.Left);
        GroupEvent(tx, g, new AgentCommand.GLeft(inviter.DirectAlias));
        tx.SetGroupStatus(g.Alias, GroupStatus.Left);
        fx.Dispatch.Add(g.Alias);
    }

    /// <summary>
    /// We were removed (§6.8 steps 3–4) by <paramref name="by"/>, who stays in the group: a group we still
    /// served is removed here, and our newcomers go with us.
    /// </summary>
    private bool EndAsRemoved(StoreTx tx, GroupRecord g, MemberRecord by, Effects fx)
    {
        if (!Serving(g)) return false;
        tx.SetGroupStatus(g.Alias, GroupStatus.Removed);
        ReleaseNewcomers(tx, g, fx, stillIn: by.Id);
        // Members still being introduced to us would finish with one who is out, and those that know it never
        // will: our HELLO to a queue they deleted would be retried for HelloRetryLimit (seed 3013).
        var removed = g with { Status = GroupStatus.Removed };
        foreach (var m in tx.ListMembers(g.Alias).Where(m => m.Status == MemberStatus.Joining && m.IntroId is not null && !m.InvitedByUs))
            GiveUp(tx, removed, m, GroupAddErrorReason.MemberGone, fx);
        return true;
    }

    /// <summary>
    /// Removed (§6.8 step 3), we pass it on, as G_MDEL of our own id, to each member still connected to us that
    /// may hear it from nobody else: its last view does not show it connected to <paramref name="remover"/>
    /// (null: we do not know the remover, so every one; the member that told us is dropped already). Otherwise a
    /// member whose only link we were would hold us as connected for good and never get its GEMPTY (seed 411). It
    /// reads as a removal at the member (GMDELETED), whichever of this and the remover's G_MDEL comes first.
    /// </summary>
    private void PassOnOurRemoval(StoreTx tx, GroupRecord g, byte[]? remover, Effects fx)
    {
        var removal = new AgentEnvelope.GMDel(g.MemberId);
        foreach (var m in tx.ListMembers(g.Alias).Where(m => m.Status == MemberStatus.Connected))
        {
            // A member that never sent a view has none here (ViewOf is empty), so it is told.
            if (remover is not null && tx.ViewOf(m.Id).TryGetValue(IntroductionRule.Key(remover), out var state) && state == MemberViewState.Connected)
                continue;
            _conns.Queue(tx, m.GroupConn, removal, fx);
        }
    }

    /// <summary>
    /// We are out (§6.8): members we invited that nobody staying is connected to yet would stay in a group
    /// that does not know them. They go with us: an invitation is withdrawn, the others get G_MDEL of their
    /// own id, as if removed. One stays if an introduction of it here completed with a member that stays
    /// (<see cref="KeepThoseConnectedToMembersStaying"/>), or if it had its G_ALL: it is a member in full, and
    /// may know members we cannot see (its own invitees). With <paramref name="all"/> every one goes: our own
    /// join failed, so nobody in the group ever knew us or them.
    /// </summary>
    private void ReleaseNewcomers(StoreTx tx, GroupRecord g, Effects fx, long? stillIn = null, bool all = false)
    {
        var members = tx.ListMembers(g.Alias);
        var newcomers = members.Where(m => m.InvitedByUs && m.IsLive && m.MemberId is not null).ToList();
        foreach (var m in newcomers.Where(m => m.Status == MemberStatus.Invited)) Withdraw(tx, m, fx);
        var going = newcomers.Where(m => m.Status != MemberStatus.Invited && (all || !m.AllSent)).Select(m => m.Id).ToHashSet();
        if (!all) KeepThoseConnectedToMembersStaying(tx, g.Alias, members, going, stillIn);
        foreach (var m in newcomers.Where(m => going.Contains(m.Id)))
        {
            if (m.Status == MemberStatus.Connected) _conns.Queue(tx, m.GroupConn, new AgentEnvelope.GMDel(m.MemberId!), fx);
            DropMemberConnection(tx, m, fx);
            tx.SetMemberStatus(m.Id, MemberStatus.Removed);
        }
    }

    /// <summary>
    /// Takes out of <paramref name="going"/> each newcomer with a completed introduction here to a member that
    /// stays: one live and not going, or <paramref name="stillIn"/> (who removed us; we hold it as gone, the
    /// group does not). A completed introduction to a member that has left since links it to nobody (seed
    /// 579: kept, it split the group), and one newcomer kept may keep another that met it, hence the loop.
    /// </summary>
    private static void KeepThoseConnectedToMembersStaying(StoreTx tx, string gid, List<MemberRecord> members, HashSet<long> going, long? stillIn)
    {
        var staying = members.Where(m => m.IsLive || m.Id == stillIn).Select(m => m.Id).ToHashSet();
        var met = going.ToDictionary(id => id, id => tx.IntroductionsOf(gid, id)
            .Where(i => i.Status == IntroductionStatus.Connected).Select(i => i.Invitee == id ? i.Member : i.Invitee).ToList());
        bool kept;
        do
        {
            kept = false;
            foreach (var (id, partners) in met)
            {
                if (!going.Contains(id) || !partners.Any(p => staying.Contains(p) && !going.Contains(p))) continue;
                going.Remove(id);
                kept = true;
            }
        }
        while (kept);
    }

    /// <summary>An invitee whose join of our group queue reached us (its confirmation came): it will send G_JOIN.</summary>
    private static bool Answered(StoreTx tx, MemberRecord m) =>
        m.GroupConn.Length > 0 && tx.GetConnection(m.GroupConn) is { Status: not ConnectionStatus.Pending };

    /// <summary>
    /// What keeps a leave (§6.7): members we invited that need us still (joined but not G_JOIN'd yet, or G_JOIN'd
    /// and GALL not reached), and introductions we run that are unresolved.
    /// </summary>
    private static bool HasDuties(StoreTx tx, string gid) =>
        tx.ListMembers(gid).Any(m => m.InvitedByUs && (m.Status == MemberStatus.Invited && Answered(tx, m) || m.Status == MemberStatus.Connected && !m.AllSent))
        || tx.HasUnresolvedIntroductions(gid) || tx.AwaitsBridge(gid);

    /// <summary>
    /// Our own join is not done (no G_HELLO from our inviter yet) while a member we invited is connected: it had
    /// its G_ALL with nobody to meet, and once our inviter is connected and its view is in, we are the one to
    /// introduce them (§6.11). So our inviter is a bridge we stay for; gone before, we would leave our invitee
    /// in a group nobody else knows it is in (seed 8312). If our join fails instead, the invitee goes with us.
    /// </summary>
    private static void StayForJoiningInviter(StoreTx tx, GroupRecord g)
    {
        if (g.InviterConn.Length == 0) return;
        var members = tx.ListMembers(g.Alias);
        if (members.FirstOrDefault(m => m.GroupConn == g.InviterConn && m.Status == MemberStatus.Joining) is { } inviter
            && members.Any(m => m.InvitedByUs && m.Status == MemberStatus.Connected))
            tx.SetBridge(inviter.Id);
    }

    /// <summary>A leaving group whose last duty just ended leaves now.</summary>
    internal void FinishLeaving(StoreTx tx, string gid, Effects fx)
    {
        if (tx.GetGroup(gid) is not { Status: GroupStatus.Leaving } g) return;
        StayForJoiningInviter(tx, g);
        if (!HasDuties(tx, gid))
            Farewell(tx, gid, new AgentEnvelope.GLeft(), GroupStatus.Left, fx);
    }

    /// <summary>
    /// GLEAVE or GDEL done: the farewell to every connected member, invitations still open withdrawn, then
    /// every group connection goes.
    /// </summary>
    internal void Farewell(StoreTx tx, string gid, AgentEnvelope farewell, GroupStatus status, Effects fx)
    {
        var inviterConn = tx.GetGroup(gid)?.InviterConn ?? "";
        foreach (var m in tx.ListMembers(gid).Where(m => m.IsLive))
        {
            if (m.Status == MemberStatus.Connected) _conns.Queue(tx, m.GroupConn, farewell, fx);
            if (m.InvitedByUs && m.Status == MemberStatus.Invited) Withdraw(tx, m, fx);
            else if (m.Status == MemberStatus.Joining && m.GroupConn.Length > 0 && m.GroupConn == inviterConn)
            {
                // Our inviter has our G_JOIN (or will, first on this connection) and holds us as connected,
                // though its hello has not reached us yet: it hears the farewell after it (seed 337).
                _conns.Queue(tx, m.GroupConn, farewell, fx);
                _conns.Drop(tx, m.GroupConn, abandonQueued: false, fx);
            }
            else DropMemberConnection(tx, m, fx);
        }
        tx.SetGroupStatus(gid, status);
    }

    /// <summary>
    /// GMDEL of a live member (§6.8 steps 1–2): G_MDEL to it and to every member we are connected to, its
    /// connection with us ended, its introductions failed.
    /// </summary>
    internal void Remove(StoreTx tx, GroupRecord g, MemberRecord target, Effects fx)
    {
        var remove = new AgentEnvelope.GMDel(target.MemberId!);
        var toldJoining = false;
        if (target.Status == MemberStatus.Connected) _conns.Queue(tx, target.GroupConn, remove, fx);
        // Our invitee not in yet would hear from nobody (its only group connection is ours): the
        // invitation is withdrawn, which ends its join (§6.7).
        else if (target is { InvitedByUs: true, Status: MemberStatus.Invited }) QueueWithdrawal(tx, target, fx);
        else toldJoining = target.Status == MemberStatus.Joining && TellJoining(tx, g, target, remove, fx);
        // What we told one still joining waits behind its handshake, which DropMemberConnection would abandon.
        if (toldJoining)
        {
            _conns.Drop(tx, target.GroupConn, abandonQueued: false, fx);
            DropUnfinishedDirect(tx, target, fx);
        }
        else DropMemberConnection(tx, target, fx);
        tx.SetMemberStatus(target.Id, MemberStatus.Removed);
        foreach (var m in tx.ListMembers(g.Alias).Where(m => m.Status == MemberStatus.Connected && m.Id != target.Id)) _conns.Queue(tx, m.GroupConn, remove, fx);
        FailIntroductionsOf(tx, g.Alias, target.Id, fx);
        // Members it was introducing to us are given up, and our view says so, for another to introduce them (seed 406).
        Departed(tx, g, target, fx);
        CheckEmpty(tx, g, target);
        fx.Dispatch.Add(g.Alias);
    }

    /// <summary>
    /// A member still connecting with us hears of its removal once our connection with it is up: our G_HELLO
    /// first (so that we count as connected there), then G_MDEL, perhaps from nobody else (seed 326). False
    /// when the handshake has not got as far as our send queue: then it fails at its end (§6.4).
    /// </summary>
    private bool TellJoining(StoreTx tx, GroupRecord g, MemberRecord target, AgentEnvelope.GMDel remove, Effects fx) =>
        (target.HelloSent || _conns.Queue(tx, target.GroupConn, new AgentEnvelope.GHello(g.MemberId), fx)) && _conns.Queue(tx, target.GroupConn, remove, fx);

    /// <summary>
    /// An invitation of ours that we end (§6.7): G_REJECT with its id back on the direct connection, so an
    /// invitee who accepted meanwhile learns its join failed; a confirmation still coming makes no duty.
    /// </summary>
    private void Withdraw(StoreTx tx, MemberRecord m, Effects fx)
    {
        DropMemberConnection(tx, m, fx);
        QueueWithdrawal(tx, m, fx);
        tx.SetMemberStatus(m.Id, MemberStatus.Rejected);
    }

    /// <summary>
    /// G_REJECT of our invitation to <paramref name="m"/>, on the direct connection it came on (§6.7). Only if
    /// its G_INV went out (queued with the group connection, GroupJobs): before that the invitee knows of no
    /// invitation and would refuse the withdrawal, and the job, finding the member no longer invited, sends none.
    /// </summary>
    internal void QueueWithdrawal(StoreTx tx, MemberRecord m, Effects fx)
    {
        if (m.InvId is not null && m.DirectAlias.Length > 0 && m.GroupConn.Length > 0) _conns.Queue(tx, m.DirectAlias, new AgentEnvelope.GReject(m.InvId), fx);
    }

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

    /// <summary>
    /// G_REJECT on the direct connection we invited through: the invitee declined. On the one we were
    /// invited through (ours, §6.7): our inviter withdrew the invitation.
    /// </summary>
    private bool OnReject(StoreTx tx, ConnectionRecord conn, AgentEnvelope.GReject reject, Effects fx)
    {
        var member = tx.MemberByInvitation(reject.InvitationId);
        if (member is null && tx.GetInvitation(reject.InvitationId) is { } pending) return OnWithdrawn(tx, conn, pending);
        if (member is { InvitedByUs: false }) return OnWithdrawnAfterJoin(tx, conn, member, fx);
        if (member is null || member.DirectAlias != conn.Alias || member.Status != MemberStatus.Invited) return false;
        var g = tx.GetGroup(member.GroupAlias);
        if (g is null) return false;
        DropMemberConnection(tx, member, fx);
        // A group we have left or deleted has nothing to tell about it.
        if (!Serving(g)) return true;
        tx.SetMemberStatus(member.Id, MemberStatus.Rejected);
        GroupEvent(tx, g, new AgentCommand.GRejected(member.DirectAlias));
        fx.Dispatch.Add(g.Alias);
        FinishLeaving(tx, g.Alias, fx);
        return true;
    }

    /// <summary>G_JOIN at the inviter: the invitee is connected; introduce it to every connected member (steps 3–4).</summary>
    private bool OnJoin(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GJoin join, Effects fx)
    {
        if (!Serving(g) || !from.InvitedByUs || from.Status != MemberStatus.Invited
            || from.InvId is null || !from.InvId.AsSpan().SequenceEqual(join.InvitationId)
            || from.MemberId is null || !from.MemberId.AsSpan().SequenceEqual(join.MemberId))
            return false;
        tx.SetMemberStatus(from.Id, MemberStatus.Connected);
        tx.SetMemberFlags(from.Id, helloSent: true);
        _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GHello(g.MemberId), fx);
        Infos.QueueOwnInfo(tx, g.Alias, from.GroupConn, fx);
        GroupEvent(tx, g, new AgentCommand.GCon(from.DirectAlias));
        var introduced = tx.ListMembers(g.Alias).Where(m => m.Status == MemberStatus.Connected && m.Id != from.Id && m.MemberId is not null).ToList();
        foreach (var m in introduced)
        {
            var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
            tx.InsertIntroduction(new IntroductionRecord(g.Alias, introId, from.Id, m.Id, IntroductionStatus.Pending, false, false));
            _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GMem(introId, m.MemberId!, m.Clvl), fx);
        }
        SendView(tx, g, from, fx);
        // After the G_MEMs, so the newcomer knows the authors we are connected to; before G_ALL (§6.6.2).
        Relay.SendHistory(tx, g, from, introduced, fx);
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
        // One look-up for both: whom to send G_CON, and whether we replay what the introducer was to forward.
        var introduced = from.IntroId is not null && from.IntroducerConn.Length > 0;
        var introducerLive = introduced && IntroducerLive(tx, from);
        tx.SetMemberStatus(from.Id, MemberStatus.Connected);
        if (!from.HelloSent)
        {
            _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GHello(g.MemberId), fx);
            Infos.QueueOwnInfo(tx, g.Alias, from.GroupConn, fx);
            tx.SetMemberFlags(from.Id, helloSent: true);
        }
        if (introducerLive) _conns.Queue(tx, from.IntroducerConn, new AgentEnvelope.GCon(from.IntroId!), fx);
        SendView(tx, g, from, fx);
        GroupEvent(tx, g, new AgentCommand.GCon(from.DirectAlias));
        // Connected after its introducer went: what that one was to forward of ours comes from us (§6.6.1).
        // And what it was to forward to us of the member's comes from the member, asked for (G_RESEND).
        if (introduced && !introducerLive)
        {
            var connected = @from with { Status = MemberStatus.Connected };
            Relay.ReplayOwnTo(tx, g, connected, fx);
            Relay.AskAgain(tx, connected, fx);
        }
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

    /// <summary>
    /// G_MEM: make the queues the member named will join (step 4). From our inviter, or from any member that
    /// speaks G_VIEW, which introduces missing pairs (§6.11).
    /// </summary>
    private bool OnMember(StoreTx tx, GroupRecord g, ConnectionRecord conn, MemberRecord from, AgentEnvelope.GMem m, Effects fx)
    {
        // Leaving: only as a bridge (§6.7), which Apply decides.
        if (!Serving(g) || from.Status != MemberStatus.Connected) return false;
        if (g.InviterConn != conn.Alias && !tx.Gossips(from.Id)) return false;
        var (admission, existing) = Admit(tx, g, from, m.MemberId, m.IntroductionId, fx);
        if (admission != Admission.Admitted) return admission == Admission.RefusedQuietly;
        long row;
        if (existing is null)
        {
            row = tx.InsertMember(new MemberRecord(0, g.Alias, m.MemberId, "", "", m.ConnectionLevel, MemberStatus.Joining, false, null,
                m.IntroductionId, conn.Alias, false, false, 0, []));
            tx.MarkHistorySeen(g.Alias, m.MemberId, row);
        }
        else
        {
            row = existing.Id;
            tx.ResetMemberForIntroduction(row, m.IntroductionId, conn.Alias, "", "", m.ConnectionLevel);
        }
        tx.InsertJob(conn.Alias, JobKind.GroupIntroInvite, BitConverter.GetBytes(row));
        fx.Kick.Add(conn.Alias);
        return true;
    }

    private enum Admission { Admitted, Refused, RefusedQuietly }

    /// <summary>A member id in a log line: its first 4 bytes, enough to tell a group's members apart.</summary>
    internal static string Short(byte[]? memberId) => memberId is null ? "?" : Convert.ToHexString(memberId.AsSpan(0, Math.Min(4, memberId.Length)));

    /// <summary>
    /// Whether an introduction of <paramref name="memberId"/> by <paramref name="introducer"/> may go on here
    /// (§6.11). Unknown ids, and members whose earlier introduction failed (their record is made again), are
    /// admitted. Ours, or a member we hold as left or removed, is refused (a tombstone is never brought back).
    /// A member connected, invited or joining otherwise is a duplicate: one that joins by another
    /// introduction is superseded when this one wins the race (its connections end and its introducer hears
    /// DUPLICATE_MEMBER). A refused introduction's introducer is told with G_ADD_ERR; between members that
    /// speak G_VIEW a duplicate is a normal race and reports no error here.
    /// </summary>
    private (Admission, MemberRecord?) Admit(StoreTx tx, GroupRecord g, MemberRecord introducer, byte[] memberId, byte[] introId, Effects fx)
    {
        if (g.MemberId.AsSpan().SequenceEqual(memberId))
        {
            RefuseIntroduction(tx, introducer, introId, fx);
            return (Admission.Refused, null);
        }
        var known = tx.MemberById(g.Alias, memberId);
        if (known is null) return (Admission.Admitted, null);
        switch (known.Status)
        {
            case MemberStatus.Failed:
                return (Admission.Admitted, known);
            case MemberStatus.Left or MemberStatus.Removed:
                _conns.Queue(tx, introducer.GroupConn, new AgentEnvelope.GAddErr(introId, GroupAddErrorReason.MemberGone), fx);
                return (Admission.Refused, null);
            case MemberStatus.Joining when Orphaned(tx, known):
                if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: introduction of {Member} by {New} supersedes one whose introducer is gone", Short(g.MemberId), Short(memberId),
                    Short(introducer.MemberId));
                DropIntroducedConnections(tx, known, fx);
                return (Admission.Admitted, known);
            case MemberStatus.Joining when known.IntroId is not null && introducer.MemberId is not null
                                           && tx.MemberByConn(known.IntroducerConn) is { MemberId: { } otherIntroducer }
                                           && IntroductionRule.Supersedes(introducer.MemberId, otherIntroducer):
                if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: introduction of {Member} by {New} supersedes that by {Old}", Short(g.MemberId), Short(memberId),
                    Short(introducer.MemberId), Short(otherIntroducer));
                _conns.Queue(tx, known.IntroducerConn, new AgentEnvelope.GAddErr(known.IntroId, GroupAddErrorReason.DuplicateMember), fx);
                DropIntroducedConnections(tx, known, fx);
                return (Admission.Admitted, known);
            default:
                if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: introduction of {Member} ({Status}) by {Introducer} refused as a duplicate", Short(g.MemberId),
                    Short(memberId), known.Status, Short(introducer.MemberId));
                RefuseIntroduction(tx, introducer, introId, fx);
                return (tx.Gossips(introducer.Id) ? Admission.RefusedQuietly : Admission.Refused, null);
        }
    }

    /// <summary>The group and direct connections an introduction made with a member, ended: the member is given up or made again.</summary>
    private void DropIntroducedConnections(StoreTx tx, MemberRecord member, Effects fx)
    {
        DropGroupConnection(tx, member, fx);
        if (member.IntroId is not null && member.DirectAlias.Length > 0 && _conns.Exists(tx, member.DirectAlias))
            _conns.Drop(tx, member.DirectAlias, abandonQueued: true, fx);
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
        if (!Relay.ReplayTo(tx, g, from, member, fx)) Relay.TellHead(tx, g, from, member, fx);
        return true;
    }

    /// <summary>G_MEM_INV at an existing member: join the newcomer's group and direct queues (step 4).</summary>
    private bool OnNewMember(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GMemInv inv, Effects fx)
    {
        if (!Serving(g) || from.Status != MemberStatus.Connected) return false;
        if (!RsaPublicKey.TryParse(inv.GroupQueueInfo.EncryptionKey, out var groupKey)) return false;
        using var gk = groupKey!;
        if (!RsaPublicKey.TryParse(inv.DirectQueueInfo.EncryptionKey, out var directKey)) return false;
        using var dk = directKey!;
        var (admission, existing) = Admit(tx, g, from, inv.MemberId, inv.IntroductionId, fx);
        if (admission != Admission.Admitted) return admission == Admission.RefusedQuietly;
        var groupConn = GroupLayer.NewGroupConnAlias();
        var direct = Keys.NewAlias();
        _conns.AddJoining(tx, groupConn, ConnectionKind.Group, g.Alias, inv.GroupQueueInfo, gk, reply: true, "", fx);
        _conns.AddJoining(tx, direct, ConnectionKind.Direct, "", inv.DirectQueueInfo, dk, reply: true, "", fx);
        if (existing is null)
        {
            var row = tx.InsertMember(new MemberRecord(0, g.Alias, inv.MemberId, direct, groupConn, inv.ConnectionLevel, MemberStatus.Joining, false, null,
                inv.IntroductionId, from.GroupConn, true, false, 0, []));
            tx.MarkHistorySeen(g.Alias, inv.MemberId, row);
        }
        else
        {
            tx.ResetMemberForIntroduction(existing.Id, inv.IntroductionId, from.GroupConn, groupConn, direct, inv.ConnectionLevel);
            tx.SetMemberFlags(existing.Id, helloSent: true);
        }
        _conns.Queue(tx, groupConn, new AgentEnvelope.GHello(g.MemberId), fx);
        Infos.QueueOwnInfo(tx, g.Alias, groupConn, fx);
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
            tx.SetIntroductionReason(g.Alias, introId, reason);
            // The other member gives up too, so both ends agree (§6.5).
            TellFailed(tx, intro, reason, fx, except: from.Id);
            Retry(tx, g, intro, reason, fx);
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

    /// <summary>The member's introduction failed: it is given up here. True when the client was told (GMFAILED).</summary>
    private bool GiveUp(StoreTx tx, GroupRecord g, MemberRecord member, GroupAddErrorReason reason, Effects fx)
    {
        // The direct connection goes too: a later introduction makes the pair's one direct connection again.
        DropIntroducedConnections(tx, member, fx);
        tx.SetMemberStatus(member.Id, MemberStatus.Failed);
        if (g.Status != GroupStatus.Active) return false;
        // A member whose queues were never made has no alias the client could know it by.
        var told = member.DirectAlias.Length > 0;
        if (told) GroupEvent(tx, g, new AgentCommand.GMFailed(member.DirectAlias, reason));
        CheckEmpty(tx, g, member);
        fx.Dispatch.Add(g.Alias);
        // Whoever may introduce us again must see that we are not connected (§6.11).
        BroadcastView(tx, g, fx);
        return told;
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
    /// A handshake step of a group connection failed for good. With a member being introduced to us, the
    /// introducer hears JOIN_FAILED at once instead of at its timeout and we give the member up as if it had
    /// told us (groups.md §6.5); with our inviter before it connected, our join failed. True when the client
    /// hears of it in group terms (GMFAILED, GLEFT), and then not of the SMP error too: a peer that dropped
    /// the connection of an introduction that lost a race (§6.11) answers AUTH, and that is no error of ours.
    /// </summary>
    internal bool ConnectionFailed(StoreTx tx, ConnectionRecord conn, Effects fx)
    {
        var g = tx.GetGroup(conn.Owner);
        if (g is not null && tx.MemberByConn(conn.Alias) is { InvitedByUs: true, Status: MemberStatus.Invited } invitee)
        {
            // Our invitee's join of the group queue failed for good: it will never G_JOIN, so it is no duty
            // of a leave any more (its own agent ends its join, §6.3). The connection goes with what is left
            // of its handshake: a HELLO behind a failed confirmation would meet AUTH for days (seed 405).
            tx.SetMemberStatus(invitee.Id, MemberStatus.Failed);
            DropMemberConnection(tx, invitee, fx);
            FinishLeaving(tx, g.Alias, fx);
            return false;
        }
        if (g is { Status: GroupStatus.Active or GroupStatus.Leaving } && g.InviterConn == conn.Alias && tx.MemberByConn(conn.Alias) is { Status: MemberStatus.Joining } inviter)
        {
            JoinFailed(tx, g, inviter, fx);
            return true;
        }
        if (g is null || tx.MemberByConn(conn.Alias) is not { Status: MemberStatus.Joining, IntroId: not null } member || member.IntroducerConn.Length == 0) return false;
        if (IntroducerLive(tx, member)) _conns.Queue(tx, member.IntroducerConn, new AgentEnvelope.GAddErr(member.IntroId, GroupAddErrorReason.JoinFailed), fx);
        var told = GiveUp(tx, g, member, GroupAddErrorReason.JoinFailed, fx);
        // A bridge we stayed for (§6.7) that cannot connect is no duty any more.
        FinishLeaving(tx, g.Alias, fx);
        return told;
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
            if (g is null || !Serving(g)) continue;
            TellFailed(tx, intro, GroupAddErrorReason.Timeout, fx);
            Retry(tx, g, intro, GroupAddErrorReason.Timeout, fx);
            fx.Dispatch.Add(g.Alias);
            CheckAllConnected(tx, g, intro.Invitee, fx);
            FinishLeaving(tx, g.Alias, fx);
        }
        // An introduction whose introducer went ends here as it would have there: at the same timeout.
        foreach (var m in tx.OrphanedJoiningBefore(cutoff))
            if (tx.GetGroup(m.GroupAlias) is { } g)
            {
                GiveUp(tx, g, m, GroupAddErrorReason.Timeout, fx);
                FinishLeaving(tx, g.Alias, fx);
            }
        // A bridge that does not come (a joining inviter that never says hello, a member that never sends a view)
        // holds a leave no longer than an introduction (§6.7).
        foreach (var (gid, member) in tx.BridgesAwaitedBefore(cutoff))
        {
            tx.GiveUpBridge(member);
            FinishLeaving(tx, gid, fx);
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
        // Leaving, we still relay it to the members we are introducing to its author (§6.6.1).
        if (from.Status != MemberStatus.Connected || !Serving(g)) return false;
        if (!tx.MarkGroupMsgSeen(from.Id, m.GroupMsgId)) return true;
        // The first message we get from an author is its chain's start for us: a member who joined later
        // cannot have had the earlier ones, so a gap before it is not a loss (groups.md: messages).
        var integrity = !from.HasChainHead ? MsgIntegrity.Ok : MsgIntegrity.Check(from.LastSeq, from.LastHash, m.AuthorSeq, m.PrevHash);
        tx.SetMemberChain(from.Id, Math.Max(m.AuthorSeq, from.LastSeq), GroupLayer.GroupMsgHash(m));
        GroupEvent(tx, g, new AgentCommand.GMsg(from.DirectAlias, integrity, m.AuthorSeq, message.Timestamp, m.Body));
        if (from.MemberId is { } author)
        {
            Relay.Keep(tx, g, author, message.Timestamp, m);
            Relay.Forward(tx, g, from, message.Timestamp, m, fx);
        }
        return true;
    }

    /// <summary>
    /// A G_MSG from its author after a gap in the author's chain, when the author was introduced to us: it waits,
    /// with what follows it on that connection, until the gap is filled or the hold limit ends (§6.6.1). While the
    /// member that introduced the author is connected, a forward may still fill it (seed 541: the forward came
    /// after the author's later messages). Once that member is gone, nobody else will: the author is asked to
    /// send its messages again from the gap on (G_RESEND, seed 720), and what it sends again is taken ahead of
    /// its place (<see cref="TakesEarly"/>).
    /// </summary>
    internal bool Waits(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message message, Effects fx)
    {
        if (message.Envelope is not AgentEnvelope.GMsg m) return false;
        if (tx.MemberByConn(conn.Alias) is not { Status: MemberStatus.Connected, HasChainHead: true, IntroducerConn.Length: > 0 } author) return false;
        if (m.AuthorSeq <= author.LastSeq + 1 || tx.GetGroup(conn.Owner) is not { Status: GroupStatus.Active }) return false;
        if (tx.MemberByConn(author.IntroducerConn) is { Status: MemberStatus.Connected }) return true;
        // The author said it gave all it still had: the gap stays, and the message goes on with it reported.
        if (tx.ResendFrom(author.Id) < 0) return false;
        Relay.AskAgain(tx, author, fx);
        return true;
    }

    /// <summary>
    /// The author's answer to our G_RESEND, held behind its messages that wait for it (§6.6.1): a G_MSG that is
    /// next in the author's chain, or the G_RESENT that ends the answer. Applied now, and what waited goes on; in
    /// its place later the G_MSG is a copy and dropped, the G_RESENT changes nothing more.
    /// </summary>
    internal bool TakesEarly(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message message, Effects fx)
    {
        if (message.Envelope is not (AgentEnvelope.GMsg or AgentEnvelope.GResent)) return false;
        if (tx.MemberByConn(conn.Alias) is not { Status: MemberStatus.Connected } author || tx.GetGroup(conn.Owner) is not { Status: GroupStatus.Active } g) return false;
        var asked = tx.ResendFrom(author.Id);
        if (asked <= 0) return false;
        bool taken;
        if (message.Envelope is AgentEnvelope.GMsg m)
            taken = m.AuthorSeq == author.LastSeq + 1 && m.AuthorSeq >= asked && OnGroupMessage(tx, g, author, message, m, fx);
        else
            taken = Relay.OnResent(tx, g, author, (AgentEnvelope.GResent)message.Envelope, fx);
        if (!taken) return false;
        fx.Dispatch.Add(g.Alias);
        fx.Resume.Add(conn.Alias);
        if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: {Envelope} from {From} taken ahead of its place", Short(g.MemberId), message.Envelope.GetType().Name, Short(author.MemberId));
        return true;
    }

    /// <summary>G_LEFT: the sender is gone; its connection with us goes too (step 6).</summary>
    private bool OnLeft(StoreTx tx, GroupRecord g, MemberRecord from, Effects fx)
    {
        // A goodbye crossing its removal (it left as we removed it): nothing to change, no error.
        if (!from.IsLive) return from.Status is MemberStatus.Left or MemberStatus.Removed;
        EndMember(tx, g, from, MemberStatus.Left, fx);
        Departed(tx, g, from, fx);
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
            GroupEvent(tx, g, new AgentCommand.GRemoved(from.DirectAlias));
            CheckEmpty(tx, g, from);
            var takenAlong = Serving(g) && from.GroupConn == g.InviterConn && !tx.HistoryIn(g.Alias).Closed;
            var ended = EndAsRemoved(tx, g, from, fx);
            // Our inviter removed us before our G_ALL, most often taking us along as it was removed itself
            // (§6.8 step 3): members we met meanwhile may hear of it from nobody else (seed 447).
            if (takenAlong) Farewell(tx, g.Alias, new AgentEnvelope.GLeft(), GroupStatus.Removed, fx);
            else if (ended) PassOnOurRemoval(tx, g, from.MemberId, fx);
            return true;
        }
        if (!Serving(g)) return true;
        var target = tx.MemberById(g.Alias, memberId);
        if (target is not null && target.IsLive)
        {
            // Tell the removed member we dropped it, then drop our connection with it.
            if (target.Status == MemberStatus.Connected) _conns.Queue(tx, target.GroupConn, new AgentEnvelope.GMDeleted(memberId), fx);
            EndMember(tx, g, target, MemberStatus.Removed, fx);
            Departed(tx, g, target, fx);
        }
        else if (target is null)
        {
            // So that nobody can introduce the removed member to us later (§6.11).
            InsertTombstone(tx, g, memberId, MemberStatus.Removed);
        }
        // A removed member passing its own removal on (§6.8 step 3) was told just above.
        if (target?.Id != from.Id) _conns.Queue(tx, from.GroupConn, new AgentEnvelope.GMDeleted(memberId), fx);
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
            // A member only says this following a removal of us (§6.8 step 4): we are out, even if the
            // remover's own G_MDEL never comes (it was not connected to us yet).
            if (EndAsRemoved(tx, g, from, fx)) PassOnOurRemoval(tx, g, null, fx);
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

    /// <summary>
    /// G_VIEW (ours, §6.11) from a connected member: its tombstones are applied here, its view replaces the
    /// last one, and every pair of it and another member we are connected to that the rule gives to us is
    /// introduced. A view naming us, the sender itself or one member twice is refused and changes nothing.
    /// </summary>
    private bool OnView(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GView view, Effects fx)
    {
        if (!Serving(g) || from.Status != MemberStatus.Connected || from.MemberId is null) return false;
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in view.Entries)
        {
            if (!ids.Add(IntroductionRule.Key(e.MemberId)) || e.MemberId.AsSpan().SequenceEqual(g.MemberId)
                || e.MemberId.AsSpan().SequenceEqual(from.MemberId)) return false;
        }
        var changed = false;
        foreach (var e in view.Entries.Where(e => e.State is MemberViewState.Left or MemberViewState.Removed))
            changed |= ApplyTombstone(tx, g, e.MemberId, e.State == MemberViewState.Left ? MemberStatus.Left : MemberStatus.Removed, fx);
        tx.ReplaceView(from.Id, view.Entries);
        if (changed) BroadcastView(tx, g, fx);
        // ConsiderPair reads views and flags from the store; the record of `from` itself has not changed.
        foreach (var other in tx.ListMembers(g.Alias).Where(m => m.Id != from.Id)) ConsiderPair(tx, g, from, other, fx);
        return true;
    }

    /// <summary>Introduces two members when the rule gives the pair to us and no attempt of ours is under way or used up.</summary>
    private void ConsiderPair(StoreTx tx, GroupRecord g, MemberRecord a, MemberRecord b, Effects fx)
    {
        // Without views of our own our introductions would be refused: members take them only from one that sent a view.
        // Leaving too (§6.7): we may be the last member connected to both.
        if (!_views || !Serving(g)) return;
        if (a.Status != MemberStatus.Connected || b.Status != MemberStatus.Connected || a.MemberId is null || b.MemberId is null) return;
        if (!tx.Gossips(a.Id) || !tx.Gossips(b.Id)) return;
        if (!IntroductionRule.ShouldIntroduce(g.MemberId, a.MemberId, tx.ViewOf(a.Id), b.MemberId, tx.ViewOf(b.Id))) return;
        var (live, failed) = tx.PairAttempts(g.Alias, a.Id, b.Id);
        if (live > 0 || failed >= IntroductionRule.MaxAttempts) return;
        Introduce(tx, g, a, b, fx);
    }

    /// <summary>
    /// An introduction of ours failed for a reason other than a duplicate: try the pair again at once if the
    /// rule still gives it to us (a duplicate waits for a view that says the pair is missing, or it would loop).
    /// </summary>
    private void Retry(StoreTx tx, GroupRecord g, IntroductionRecord intro, GroupAddErrorReason reason, Effects fx)
    {
        // A duplicate is being introduced by another; MEMBER_GONE says one of the two left or was removed (a
        // leaver refusing an introduction of itself, §6.7): its G_LEFT or a tombstone follows, and an introduction
        // started again now would leave the other holding a departed member as joining (seed 7004).
        if (reason is GroupAddErrorReason.DuplicateMember or GroupAddErrorReason.MemberGone) return;
        if (tx.GetMember(intro.Invitee) is { } a && tx.GetMember(intro.Member) is { } b) ConsiderPair(tx, g, a, b, fx);
    }

    /// <summary>Starts an introduction of two connected members: the one with the smaller id makes the queues.</summary>
    private void Introduce(StoreTx tx, GroupRecord g, MemberRecord a, MemberRecord b, Effects fx)
    {
        var (maker, joiner) = IntroductionRule.MakesQueues(a.MemberId!, b.MemberId!) ? (a, b) : (b, a);
        var introId = RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize);
        tx.InsertIntroduction(new IntroductionRecord(g.Alias, introId, maker.Id, joiner.Id, IntroductionStatus.Pending, false, false));
        _conns.Queue(tx, maker.GroupConn, new AgentEnvelope.GMem(introId, joiner.MemberId!, joiner.Clvl), fx);
        // Both were members already, so each may have said what the other missed: the maker knows the joiner
        // from the G_MEM on, so it gets the joiner's kept messages now; the joiner gets the maker's at
        // G_MEM_INV (§6.6.1). A newcomer's introductions need neither: its history has them (§6.6.2).
        if (!Relay.ReplayTo(tx, g, joiner, maker, fx)) Relay.TellHead(tx, g, joiner, maker, fx);
    }

    /// <summary>A member another says has left or was removed: final here too (§6.11). True when something changed.</summary>
    private bool ApplyTombstone(StoreTx tx, GroupRecord g, byte[] memberId, MemberStatus gone, Effects fx)
    {
        var known = tx.MemberById(g.Alias, memberId);
        if (known is null)
        {
            InsertTombstone(tx, g, memberId, gone);
            return false;
        }
        if (known.Status is MemberStatus.Left or MemberStatus.Removed) return false;
        if (!known.IsLive)
        {
            tx.SetMemberStatus(known.Id, gone);
            return false;
        }
        // Our inviter left and we have not had our G_ALL: it leaves only after sending it (§6.7), so G_ALL and
        // G_LEFT are on their way here on its connection, in that order. Ending it now would refuse the G_ALL.
        if (gone == MemberStatus.Left && known.Status == MemberStatus.Connected && known.GroupConn == g.InviterConn && !tx.HistoryIn(g.Alias).Closed)
            return false;
        // As for G_LEFT and G_MDEL: the group connection ends, the direct one stays (§10).
        EndMember(tx, g, known, gone, fx);
        GiveUpIntroducedBy(tx, g, known, fx);
        if (g.Status == GroupStatus.Active) IntroducerGone(tx, g, known, fx);
        return true;
    }

    /// <summary>
    /// A live member left or was removed, however we heard of it (G_LEFT, G_MDEL, a tombstone): its group
    /// connection ends, its introductions fail, the client is told (GLEFT / GMDELETED, when it has an alias)
    /// and GEMPTY follows if it was the last one connected.
    /// </summary>
    private void EndMember(StoreTx tx, GroupRecord g, MemberRecord member, MemberStatus gone, Effects fx)
    {
        DropMemberConnection(tx, member, fx);
        tx.SetMemberStatus(member.Id, gone);
        FailIntroductionsOf(tx, g.Alias, member.Id, fx);
        // A member whose queues were never made has no alias the client could know it by.
        if (member.DirectAlias.Length > 0)
            GroupEvent(tx, g, gone == MemberStatus.Left ? new AgentCommand.GLeft(member.DirectAlias) : new AgentCommand.GMDeleted(member.DirectAlias));
        CheckEmpty(tx, g, member);
    }

    /// <summary>A member known only as gone: no connection, no alias; it keeps its id from being introduced.</summary>
    private static void InsertTombstone(StoreTx tx, GroupRecord g, byte[] memberId, MemberStatus gone) =>
        tx.InsertMember(new MemberRecord(0, g.Alias, memberId, "", "", 0, gone, false, null, null, "", false, false, 0, []));

    /// <summary>
    /// A member is gone: members it was still introducing to us cannot be told their introduction's end by
    /// it, so we give them up now (a new introducer takes over, §6.11), and the others hear of the change.
    /// </summary>
    private void Departed(StoreTx tx, GroupRecord g, MemberRecord gone, Effects fx)
    {
        if (g.Status != GroupStatus.Active) return;
        GiveUpIntroducedBy(tx, g, gone, fx);
        IntroducerGone(tx, g, gone, fx);
        BroadcastView(tx, g, fx);
    }

    /// <summary>
    /// For the members <paramref name="gone"/> introduced to us: ours that it was to forward to them go to them
    /// from us, and theirs that it was to forward to us are asked of them (§6.6.1); their messages that waited
    /// for its forwards (Waits) now wait for those.
    /// </summary>
    private void IntroducerGone(StoreTx tx, GroupRecord g, MemberRecord gone, Effects fx)
    {
        if (gone.GroupConn.Length == 0) return;
        foreach (var m in tx.ListMembers(g.Alias).Where(m => m.Status == MemberStatus.Connected && m.IntroducerConn == gone.GroupConn))
        {
            fx.Resume.Add(m.GroupConn);
            Relay.ReplayOwnTo(tx, g, m, fx);
            Relay.AskAgain(tx, m, fx);
        }
    }

    /// <summary>
    /// Members <paramref name="gone"/> was introducing to us. Those whose queues are not made yet can no
    /// longer be introduced by it: given up. Those whose queues we made or joined go on without it: the two
    /// ends need nothing more from it to finish their handshake (seed 720: when it was their only common
    /// member, nobody else could introduce them again). Until then they are <see cref="Orphaned"/>.
    /// </summary>
    private void GiveUpIntroducedBy(StoreTx tx, GroupRecord g, MemberRecord gone, Effects fx)
    {
        if (gone.GroupConn.Length == 0) return;
        foreach (var m in tx.ListMembers(g.Alias).Where(m => m.Status == MemberStatus.Joining && m.IntroId is not null && m.IntroducerConn == gone.GroupConn))
        {
            if (m.GroupConn.Length > 0)
            {
                if (_log.IsEnabled(LogLevel.Debug)) _log.LogDebug("group {Me}: introduction of {Member} goes on without its introducer {Gone}", Short(g.MemberId), Short(m.MemberId), Short(gone.MemberId));
                continue;
            }
            GiveUp(tx, g, m, GroupAddErrorReason.MemberGone, fx);
        }
    }

    /// <summary>
    /// A member still joining by an introduction whose introducer is gone (§6.11, "An introducer that goes"):
    /// nobody will end that introduction. It is left out of our views, so that another member may introduce
    /// the pair, and any new introduction of it supersedes this one.
    /// </summary>
    internal static bool Orphaned(StoreTx tx, MemberRecord m) =>
        m.Status == MemberStatus.Joining && m.IntroId is not null && m.IntroducerConn.Length > 0 && !IntroducerLive(tx, m);

    /// <summary>Whether the member that introduced <paramref name="m"/> to us can still hear of it (G_CON, G_ADD_ERR).</summary>
    private static bool IntroducerLive(StoreTx tx, MemberRecord m) =>
        m.IntroducerConn.Length > 0 && tx.MemberByConn(m.IntroducerConn) is { IsLive: true };

    /// <summary>
    /// The view we give <paramref name="to"/>: every member we know by id but it, with how we stand with it;
    /// failed and declined members are left out (nothing is known of them), tombstones are kept.
    /// </summary>
    private static AgentEnvelope.GView BuildView(StoreTx tx, GroupRecord g, MemberRecord to)
    {
        var entries = new List<MemberViewEntry>();
        foreach (var m in tx.ListMembers(g.Alias))
        {
            if (m.MemberId is null || m.Id == to.Id || (to.MemberId is not null && m.MemberId.AsSpan().SequenceEqual(to.MemberId))) continue;
            MemberViewState? state = m.Status switch
            {
                MemberStatus.Connected => MemberViewState.Connected,
                MemberStatus.Invited => MemberViewState.Pending,
                MemberStatus.Joining => Orphaned(tx, m) ? null : MemberViewState.Pending,
                MemberStatus.Left => MemberViewState.Left,
                MemberStatus.Removed => MemberViewState.Removed,
                _ => null,
            };
            if (state is { } s) entries.Add(new MemberViewEntry(m.MemberId, s));
        }
        // Live members first: in a group too big for one view, the tombstones are what is left out.
        return new AgentEnvelope.GView(entries.OrderBy(e => e.State is MemberViewState.Left or MemberViewState.Removed).Take(AgentEnvelope.MaxViewEntries).ToList());
    }

    /// <summary>Our view, to a member just connected (every member gets one, §6.11).</summary>
    private void SendView(StoreTx tx, GroupRecord g, MemberRecord to, Effects fx)
    {
        if (_views) _conns.Queue(tx, to.GroupConn, BuildView(tx, g, to), fx);
    }

    /// <summary>Our view, after a member failed or went, to every connected member that speaks G_VIEW.</summary>
    private void BroadcastView(StoreTx tx, GroupRecord g, Effects fx)
    {
        if (!_views || g.Status != GroupStatus.Active) return;
        foreach (var m in tx.ListMembers(g.Alias).Where(m => m.Status == MemberStatus.Connected && tx.Gossips(m.Id)))
            SendView(tx, g, m, fx);
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
    internal void DropMemberConnection(StoreTx tx, MemberRecord m, Effects fx)
    {
        DropGroupConnection(tx, m, fx);
        DropUnfinishedDirect(tx, m, fx);
    }

    private void DropGroupConnection(StoreTx tx, MemberRecord m, Effects fx) =>
        // A handshake still under way has nothing worth finishing: HELLO might otherwise retry for days first.
        _conns.Drop(tx, m.GroupConn, abandonQueued: m.Status != MemberStatus.Connected, fx);

    /// <summary>
    /// A member met through an introduction that goes takes along the direct connection that introduction made,
    /// unless it is up already (those stay, §10). Both ends decide alike, whichever of them ends the relation
    /// and whether or not the group connection was up: one end keeping its side would send HELLO to a queue
    /// the other deleted and meet AUTH for HelloRetryLimit (simulation seeds 6219 and 6315).
    /// </summary>
    private void DropUnfinishedDirect(StoreTx tx, MemberRecord m, Effects fx)
    {
        if (m is not { IntroId: not null, InvitedByUs: false } || m.DirectAlias.Length == 0) return;
        if (_conns.Exists(tx, m.DirectAlias) && !_conns.IsDuplex(tx, m.DirectAlias)) _conns.Drop(tx, m.DirectAlias, abandonQueued: true, fx);
    }
}
