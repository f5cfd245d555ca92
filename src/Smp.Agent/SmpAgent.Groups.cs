using System.Security.Cryptography;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Agent;

/// <summary>A member as GMEMBERS lists it.</summary>
public sealed record GroupMemberInfo(string Alias, byte[]? MemberId, GroupMemberStatus Status);

// Group commands (groups.md §2). Every command checks everything before it changes anything, so a
// refused command leaves no trace; the envelopes it causes are queued in the same transaction.
public sealed partial class SmpAgent
{
    internal static AgentProtocolException GroupError(AgentErrorCode code) => new(code);

    /// <summary>Internal aliases start with '#', which client aliases cannot contain: the namespaces never meet.</summary>
    internal static string NewGroupConnAlias() => "#g" + NewAlias();

    private static GroupRecord RequireActiveGroup(StoreTx tx, string gid)
    {
        var g = tx.GetGroup(gid) ?? throw GroupError(AgentErrorCode.GroupUnknown);
        if (g.Status != GroupStatus.Active) throw GroupError(AgentErrorCode.GroupNotMember);
        return g;
    }

    /// <summary>
    /// Largest group info: G_INV carries it with ids and a queue invitation (~700 bytes with a 2048-bit key)
    /// inside the 3,072-byte envelope.
    /// </summary>
    public const int MaxGroupInfoSize = 2048;

    /// <summary>GNEW: a group with us as its only member, connection level 0.</summary>
    public async Task<string> GroupNewAsync(ClientSession session, string gid, ReadOnlyMemory<byte> info, CancellationToken ct = default)
    {
        gid = gid.Length == 0 ? NewAlias() : gid;
        if (info.Length > MaxGroupInfoSize) throw new AgentProtocolException(AgentErrorCode.CmdLarge);
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            if (tx.GetGroup(gid) is { Status: GroupStatus.Active }) throw GroupError(AgentErrorCode.GroupDuplicate);
            ForgetGroup(tx, gid, fx);
            if (tx.ConnectionExists(gid)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
            tx.InsertGroup(new GroupRecord(gid, RandomNumberGenerator.GetBytes(AgentEnvelope.GroupIdSize), RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize),
                0, info.ToArray(), GroupStatus.Active, "", 0, []));
        }, ct).ConfigureAwait(false);
        await RunEffectsAsync(fx).ConfigureAwait(false);
        Hold(session, gid);
        return gid;
    }

    /// <summary>GADD: invites the peer of an established direct connection (groups.md §4 step 2).</summary>
    public async Task GroupAddAsync(string gid, string memberAlias, CancellationToken ct = default)
    {
        await _store.TransactAsync(tx =>
        {
            var g = RequireActiveGroup(tx, gid);
            var conn = tx.GetConnection(memberAlias);
            if (conn is null || conn.Kind != ConnectionKind.Direct) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            if (conn.Status != ConnectionStatus.Active || tx.GetSndQueue(memberAlias) is null || tx.GetRcvQueue(memberAlias) is null)
                throw new AgentProtocolException(AgentErrorCode.ConnSimplex);
            if (tx.MemberByDirectAlias(gid, memberAlias) is { IsLive: true }) throw GroupError(AgentErrorCode.GroupDuplicate);
            var member = tx.InsertMember(new MemberRecord(0, gid, RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize), memberAlias, "",
                g.Clvl + 1, MemberStatus.Invited, true, RandomNumberGenerator.GetBytes(AgentEnvelope.InvitationIdSize), null, "", false, false, 0, []));
            tx.InsertJob(memberAlias, JobKind.GroupInvite, BitConverter.GetBytes(member));
        }, ct).ConfigureAwait(false);
        KickJobs(memberAlias);
    }

    /// <summary>GJOIN: accepts an invitation; joins the inviter's group queue and queues G_JOIN (step 3).</summary>
    public async Task<string> GroupJoinAsync(ClientSession session, string gid, byte[] invId, CancellationToken ct = default)
    {
        gid = gid.Length == 0 ? NewAlias() : gid;
        using var sndKey = _keys.Take();
        using var signKey = _keys.Take();
        var fx = new Effects();
        var conn = NewGroupConnAlias();
        await _store.TransactAsync(tx =>
        {
            var inv = tx.GetInvitation(invId);
            if (inv is null || inv.Status != InvitationStatus.Pending) throw GroupError(AgentErrorCode.GroupUnknown);
            if (tx.GetGroup(gid) is { Status: GroupStatus.Active } || tx.FindGroupById(inv.GroupId) is { Status: GroupStatus.Active })
                throw GroupError(AgentErrorCode.GroupDuplicate);
            // A group we left, were removed from or saw deleted keeps its record (commands get NOT_MEMBER)
            // until its alias or its id is used again.
            ForgetGroup(tx, gid, fx);
            if (tx.FindGroupById(inv.GroupId) is { } old) ForgetGroup(tx, old.Alias, fx);
            if (tx.ConnectionExists(gid)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
            if (!SmpQueueInfo.TryParse(inv.QueueInfo, out var queue) || !RsaPublicKey.TryParse(queue!.EncryptionKey, out var peerKey))
                throw GroupError(AgentErrorCode.GroupUnknown);
            using var encryptKey = peerKey!;
            tx.InsertGroup(new GroupRecord(gid, inv.GroupId, inv.MemberId, inv.Clvl, inv.Info, GroupStatus.Active, conn, 0, []));
            tx.InsertConnection(new ConnectionRecord(conn, ConnectionKind.Group, ConnectionStatus.Joining, Owner: gid));
            AddSendQueue(tx, conn, queue, encryptKey, sndKey, signKey, "");
            tx.InsertJob(conn, JobKind.CreateReplyQueue);
            tx.InsertMember(new MemberRecord(0, gid, null, inv.DirectAlias, conn, Math.Max(0, inv.Clvl - 1), MemberStatus.Joining, false, inv.InvId, null, "", true, false, 0, []));
            QueueEnvelope(tx, conn, new AgentEnvelope.GJoin(inv.InvId, inv.MemberId));
            tx.SetInvitationStatus(invId, InvitationStatus.Accepted);
        }, ct).ConfigureAwait(false);
        await RunEffectsAsync(fx).ConfigureAwait(false);
        Hold(session, gid);
        KickJobs(conn);
        return gid;
    }

    /// <summary>GREJECT: declines an invitation received on <paramref name="directAlias"/>; the inviter hears GREJECTED.</summary>
    public async Task GroupRejectAsync(string directAlias, byte[] invId, CancellationToken ct = default)
    {
        await _store.TransactAsync(tx =>
        {
            var inv = tx.GetInvitation(invId);
            if (inv is null || inv.Status != InvitationStatus.Pending || inv.DirectAlias != directAlias) throw GroupError(AgentErrorCode.GroupUnknown);
            tx.SetInvitationStatus(invId, InvitationStatus.Rejected);
            QueueEnvelope(tx, directAlias, new AgentEnvelope.GReject(invId));
        }, ct).ConfigureAwait(false);
        KickJobs(directAlias);
    }

    /// <summary>GSEND: one G_MSG per connected member, chained by our author sequence (step 5).</summary>
    public async Task<byte[]> GroupSendAsync(string gid, ReadOnlyMemory<byte> body, CancellationToken ct = default)
    {
        var msgId = RandomNumberGenerator.GetBytes(AgentEnvelope.GroupMsgIdSize);
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            var g = RequireActiveGroup(tx, gid);
            var envelope = new AgentEnvelope.GMsg(msgId, g.LastSeq + 1, g.LastHash, body);
            if (!Fits(envelope)) throw new AgentProtocolException(AgentErrorCode.CmdLarge);
            foreach (var m in tx.ListMembers(gid).Where(m => m.Status == MemberStatus.Connected))
            {
                if (QueueEnvelope(tx, m.GroupConn, envelope)) fx.Kick.Add(m.GroupConn);
            }
            tx.SetGroupChain(gid, g.LastSeq + 1, GroupMsgHash(envelope));
        }, ct).ConfigureAwait(false);
        await RunEffectsAsync(fx).ConfigureAwait(false);
        return msgId;
    }

    /// <summary>The author chain hashes the G_MSG envelope text, identical at every receiver.</summary>
    internal static byte[] GroupMsgHash(AgentEnvelope.GMsg envelope)
    {
        var w = new System.Buffers.ArrayBufferWriter<byte>(256);
        AgentPlaintextCodec.WriteEnvelope(w, envelope);
        return SHA256.HashData(w.WrittenSpan);
    }

    /// <summary>GLEAVE: G_LEFT to every member, then our group connections go (step 6).</summary>
    public async Task GroupLeaveAsync(string gid, CancellationToken ct = default) =>
        await FarewellAsync(gid, new AgentEnvelope.GLeft(), GroupStatus.Left, ct).ConfigureAwait(false);

    /// <summary>GDEL: G_DEL to every member, then our group connections go (step 8).</summary>
    public async Task GroupDeleteAsync(string gid, CancellationToken ct = default) =>
        await FarewellAsync(gid, new AgentEnvelope.GDel(), GroupStatus.Deleted, ct).ConfigureAwait(false);

    private async Task FarewellAsync(string gid, AgentEnvelope farewell, GroupStatus status, CancellationToken ct)
    {
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            RequireActiveGroup(tx, gid);
            foreach (var m in tx.ListMembers(gid).Where(m => m.IsLive))
            {
                if (m.Status == MemberStatus.Connected) QueueEnvelope(tx, m.GroupConn, farewell);
                DropMemberConnection(tx, m, fx);
            }
            tx.SetGroupStatus(gid, status);
        }, ct).ConfigureAwait(false);
        await RunEffectsAsync(fx).ConfigureAwait(false);
    }

    /// <summary>Forgets a finished group whose alias or id is used again, ending any group connection it still has.</summary>
    private static void ForgetGroup(StoreTx tx, string gid, Effects fx)
    {
        foreach (var m in tx.ListMembers(gid)) DropMemberConnection(tx, m, fx);
        tx.DeleteGroup(gid);
    }

    /// <summary>Queues the end of a member's group connection after whatever is already queued on it.</summary>
    private static void DropMemberConnection(StoreTx tx, MemberRecord m, Effects fx)
    {
        if (m.GroupConn.Length == 0 || !tx.ConnectionExists(m.GroupConn)) return;
        // A handshake still under way has nothing worth finishing: HELLO might otherwise retry for days first.
        if (m.Status != MemberStatus.Connected) tx.DeleteJobs(m.GroupConn);
        tx.InsertJob(m.GroupConn, JobKind.DropConnection);
        fx.Kick.Add(m.GroupConn);
    }

    /// <summary>GMDEL: removes a member for everyone (step 7).</summary>
    public async Task GroupRemoveAsync(string gid, string memberAlias, CancellationToken ct = default)
    {
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            RequireActiveGroup(tx, gid);
            var target = tx.MemberByDirectAlias(gid, memberAlias) ?? throw GroupError(AgentErrorCode.GroupMemberUnknown);
            if (!target.IsLive || target.MemberId is null) throw GroupError(AgentErrorCode.GroupState);
            var remove = new AgentEnvelope.GMDel(target.MemberId);
            if (target.Status == MemberStatus.Connected) QueueEnvelope(tx, target.GroupConn, remove);
            DropMemberConnection(tx, target, fx);
            tx.SetMemberStatus(target.Id, MemberStatus.Removed);
            foreach (var m in tx.ListMembers(gid).Where(m => m.Status == MemberStatus.Connected && m.Id != target.Id))
            {
                if (QueueEnvelope(tx, m.GroupConn, remove)) fx.Kick.Add(m.GroupConn);
            }
            FailIntroductionsOf(tx, gid, target.Id, fx);
            CheckEmpty(tx, tx.GetGroup(gid)!, target);
            fx.Dispatch.Add(gid);
        }, ct).ConfigureAwait(false);
        await RunEffectsAsync(fx).ConfigureAwait(false);
    }

    /// <summary>GMEMBERS: every member this agent knows of, with its direct alias and status.</summary>
    public async Task<List<GroupMemberInfo>> GroupMembersAsync(string gid, CancellationToken ct = default) =>
        await _store.TransactAsync(tx =>
        {
            RequireActiveGroup(tx, gid);
            // A member introduced a moment ago has no direct connection, so no alias to name it by, and our
            // inviter has no member id until its G_HELLO: those rows wait until they can be written.
            return tx.ListMembers(gid).Where(m => m.DirectAlias.Length > 0 && m.MemberId is not null)
                .Select(m => new GroupMemberInfo(m.DirectAlias, m.MemberId, WireStatus(m.Status))).ToList();
        }, ct).ConfigureAwait(false);

    internal static GroupMemberStatus WireStatus(MemberStatus s) => s switch
    {
        MemberStatus.Invited => GroupMemberStatus.Invited,
        MemberStatus.Joining => GroupMemberStatus.Joining,
        MemberStatus.Connected => GroupMemberStatus.Connected,
        MemberStatus.Left => GroupMemberStatus.Left,
        _ => GroupMemberStatus.Removed,
    };

    /// <summary>Test hook: queues any envelope on a connection, as a misbehaving peer would send it.</summary>
    internal async Task QueueEnvelopeForTestAsync(string alias, AgentEnvelope envelope)
    {
        await _store.TransactAsync(tx => QueueEnvelope(tx, alias, envelope)).ConfigureAwait(false);
        KickJobs(alias);
    }

    /// <summary>Test hook: a group's record and its members as this agent holds them.</summary>
    internal Task<(GroupRecord? Group, List<MemberRecord> Members)> GroupStateForTestAsync(string gid) =>
        _store.TransactAsync(tx => (tx.GetGroup(gid), tx.ListMembers(gid)));
}
