using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Smp.Agent.Connections;
using Smp.Agent.Events;
using Smp.Agent.Jobs;
using Smp.Agent.Runtime;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Groups;

/// <summary>
/// Groups (groups.md) on top of connections: the group commands, the envelopes received
/// (<see cref="GroupEnvelopeHandler"/>) and the group jobs (<see cref="GroupJobs"/>). It reaches connections
/// only through <see cref="IConnections"/>; the connection layer reaches it only through
/// <see cref="IConnectionOwner"/>. Every command checks everything before it changes anything, so a refused
/// command leaves no trace; the envelopes it causes are queued in the same transaction.
/// </summary>
internal sealed class GroupLayer : IConnectionOwner
{
    /// <summary>
    /// Largest group info: G_INV carries it with ids and a queue invitation (~700 bytes with a 2048-bit key)
    /// inside the 3,072-byte envelope.
    /// </summary>
    public const int MaxGroupInfoSize = 2048;

    /// <summary>
    /// Largest member info (groups.md §6.12): a display name or a small profile. G_INFO carries nothing else,
    /// so the bound is for the stores and screens of every member, not for the envelope.
    /// </summary>
    public const int MaxMemberInfoSize = 1024;

    private readonly AgentStore _store;
    private readonly IConnections _conns;
    private readonly EventRouter _router;
    private readonly Outbox _outbox;

    private readonly ILogger _log;

    public GroupLayer(AgentStore store, IConnections conns, EventRouter router, Outbox outbox, ILogger log, bool views = true,
        int historySize = AgentOptions.DefaultGroupHistorySize)
    {
        _log = log;
        _store = store;
        _conns = conns;
        _router = router;
        _outbox = outbox;
        Envelopes = new GroupEnvelopeHandler(conns, views, historySize, log);
        new GroupJobs(store, conns, outbox).Register();
    }

    public GroupEnvelopeHandler Envelopes { get; }

    /// <summary>
    /// Fails the introductions this agent runs that outlived <paramref name="timeout"/> (groups.md §6.5),
    /// looking every quarter of it, at most every 30 s. Introductions older than this agent's schema 5 have
    /// no start time and count from now.
    /// </summary>
    public async Task ExpireIntroductionsAsync(TimeSpan timeout, CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        var period = TimeSpan.FromTicks(Math.Clamp(timeout.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(30).Ticks));
        using var timer = new PeriodicTimer(period);
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
        {
            try
            {
                var fx = await _conns.TransactAsync((tx, fx) => Envelopes.ExpireIntroductions(tx, DateTime.UtcNow - timeout, started, fx), ct)
                    .ConfigureAwait(false);
                await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
            {
                // The next tick tries again: a stuck introduction must not stay stuck because of one failure.
                _log.LogError(e, "expiring introductions failed");
            }
        }
    }

    /// <summary>Internal aliases start with '#', which client aliases cannot contain: the namespaces never meet.</summary>
    internal static string NewGroupConnAlias() => "#g" + Keys.NewAlias();

    /// <summary>The author chain hashes the G_MSG envelope text, identical at every receiver.</summary>
    internal static byte[] GroupMsgHash(AgentEnvelope.GMsg envelope)
    {
        var w = new System.Buffers.ArrayBufferWriter<byte>(256);
        AgentPlaintextCodec.WriteEnvelope(w, envelope);
        return SHA256.HashData(w.WrittenSpan);
    }

    // --- IConnectionOwner ---

    public bool Apply(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message message, Effects fx) => Envelopes.Apply(tx, conn, message, fx);

    public bool Waits(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message message, Effects fx) => Envelopes.Waits(tx, conn, message, fx);

    public bool TakesEarly(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message message, Effects fx) => Envelopes.TakesEarly(tx, conn, message, fx);

    public bool OwnsAlias(StoreTx tx, string alias) => tx.GroupExists(alias);

    public IEnumerable<string> Aliases(StoreTx tx) => tx.ListGroups().Select(g => g.Alias);

    public bool HandshakeFailed(StoreTx tx, ConnectionRecord conn, Effects fx) => Envelopes.ConnectionFailed(tx, conn, fx);

    // --- commands (groups.md §2) ---

    private static AgentProtocolException Error(AgentErrorCode code) => new(code);

    private static GroupRecord RequireActiveGroup(StoreTx tx, string gid)
    {
        var g = tx.GetGroup(gid) ?? throw Error(AgentErrorCode.GroupUnknown);
        if (g.Status != GroupStatus.Active) throw Error(AgentErrorCode.GroupNotMember);
        return g;
    }

    /// <summary>GNEW: a group with us as its only member, connection level 0.</summary>
    public async Task<string> NewAsync(ClientSession session, string gid, ReadOnlyMemory<byte> info, ReadOnlyMemory<byte> memberInfo, CancellationToken ct)
    {
        gid = gid.Length == 0 ? Keys.NewAlias() : gid;
        if (info.Length > MaxGroupInfoSize || memberInfo.Length > MaxMemberInfoSize) throw new AgentProtocolException(AgentErrorCode.CmdLarge);
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            if (tx.GetGroup(gid) is { Status: GroupStatus.Active or GroupStatus.Leaving }) throw Error(AgentErrorCode.GroupDuplicate);
            ForgetGroup(tx, gid, fx);
            if (_conns.Exists(tx, gid)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
            tx.InsertGroup(new GroupRecord(gid, RandomNumberGenerator.GetBytes(AgentEnvelope.GroupIdSize), RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize),
                0, info.ToArray(), GroupStatus.Active, "", 0, []));
            tx.SetOwnInfo(gid, memberInfo.ToArray());
        }, ct).ConfigureAwait(false);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
        _router.Hold(session, gid);
        return gid;
    }

    /// <summary>GADD: invites the peer of an established direct connection (groups.md §6.2).</summary>
    public async Task AddAsync(string gid, string memberAlias, CancellationToken ct)
    {
        await _store.TransactAsync(tx =>
        {
            var g = RequireActiveGroup(tx, gid);
            var conn = tx.GetConnection(memberAlias);
            if (conn is null || conn.Kind != ConnectionKind.Direct) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            if (!_conns.IsDuplex(tx, memberAlias)) throw new AgentProtocolException(AgentErrorCode.ConnSimplex);
            if (tx.MemberByDirectAlias(gid, memberAlias) is { IsLive: true }) throw Error(AgentErrorCode.GroupDuplicate);
            var member = tx.InsertMember(new MemberRecord(0, gid, RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize), memberAlias, "",
                g.Clvl + 1, MemberStatus.Invited, true, RandomNumberGenerator.GetBytes(AgentEnvelope.InvitationIdSize), null, "", false, false, 0, []));
            tx.InsertJob(memberAlias, JobKind.GroupInvite, BitConverter.GetBytes(member));
        }, ct).ConfigureAwait(false);
        _outbox.Kick(memberAlias);
    }

    /// <summary>GJOIN: accepts an invitation; joins the inviter's group queue and queues G_JOIN (groups.md §6.3).</summary>
    public async Task<string> JoinAsync(ClientSession session, string gid, byte[] invId, ReadOnlyMemory<byte> memberInfo, CancellationToken ct)
    {
        if (memberInfo.Length > MaxMemberInfoSize) throw new AgentProtocolException(AgentErrorCode.CmdLarge);
        gid = gid.Length == 0 ? Keys.NewAlias() : gid;
        var conn = NewGroupConnAlias();
        var fx = await _conns.TransactAsync((tx, fx) =>
        {
            var inv = tx.GetInvitation(invId);
            if (inv is null || inv.Status != InvitationStatus.Pending) throw Error(AgentErrorCode.GroupUnknown);
            // A group we are leaving is still ours until its G_LEFT went (§6.7).
            if (tx.GetGroup(gid) is { Status: GroupStatus.Active or GroupStatus.Leaving }
                || tx.FindGroupById(inv.GroupId) is { Status: GroupStatus.Active or GroupStatus.Leaving })
                throw Error(AgentErrorCode.GroupDuplicate);
            // A group we left, were removed from or saw deleted keeps its record (commands get NOT_MEMBER)
            // until its alias or its id is used again.
            ForgetGroup(tx, gid, fx);
            if (tx.FindGroupById(inv.GroupId) is { } old) ForgetGroup(tx, old.Alias, fx);
            if (_conns.Exists(tx, gid)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
            if (!SmpQueueInfo.TryParse(inv.QueueInfo, out var queue) || !RsaPublicKey.TryParse(queue!.EncryptionKey, out var peerKey))
                throw Error(AgentErrorCode.GroupUnknown);
            using var encryptKey = peerKey!;
            tx.InsertGroup(new GroupRecord(gid, inv.GroupId, inv.MemberId, inv.Clvl, inv.Info, GroupStatus.Active, conn, 0, []));
            _conns.AddJoining(tx, conn, ConnectionKind.Group, gid, queue, encryptKey, reply: true, "", fx);
            tx.InsertMember(new MemberRecord(0, gid, null, inv.DirectAlias, conn, Math.Max(0, inv.Clvl - 1), MemberStatus.Joining, false, inv.InvId, null, "", true, false, 0, []));
            _conns.Queue(tx, conn, new AgentEnvelope.GJoin(inv.InvId, inv.MemberId), fx);
            tx.SetOwnInfo(gid, memberInfo.ToArray());
            Envelopes.Infos.QueueOwnInfo(tx, gid, conn, fx);
            tx.SetInvitationStatus(invId, InvitationStatus.Accepted);
        }, ct).ConfigureAwait(false);
        _router.Hold(session, gid);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
        return gid;
    }

    /// <summary>GREJECT: declines an invitation received on <paramref name="directAlias"/>; the inviter hears GREJECTED.</summary>
    public async Task RejectAsync(string directAlias, byte[] invId, CancellationToken ct)
    {
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            var inv = tx.GetInvitation(invId);
            if (inv is null || inv.Status != InvitationStatus.Pending || inv.DirectAlias != directAlias) throw Error(AgentErrorCode.GroupUnknown);
            tx.SetInvitationStatus(invId, InvitationStatus.Rejected);
            _conns.Queue(tx, directAlias, new AgentEnvelope.GReject(invId), fx);
        }, ct).ConfigureAwait(false);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
    }

    /// <summary>GSEND: one G_MSG per connected member, chained by our author sequence (groups.md §6.6).</summary>
    public async Task<byte[]> SendAsync(string gid, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var msgId = RandomNumberGenerator.GetBytes(AgentEnvelope.GroupMsgIdSize);
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            Envelopes.Relay.SendOwn(tx, RequireActiveGroup(tx, gid), msgId, body, fx);
        }, ct).ConfigureAwait(false);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
        return msgId;
    }

    /// <summary>
    /// GLEAVE: G_LEFT to every member, then our group connections go (groups.md §6.7); first, when members we
    /// invited are still being introduced, those introductions end (Leaving).
    /// </summary>
    public async Task LeaveAsync(string gid, CancellationToken ct)
    {
        var fx = new Effects();
        await _store.TransactAsync(tx => Envelopes.BeginLeave(tx, RequireActiveGroup(tx, gid), fx), ct).ConfigureAwait(false);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
    }

    /// <summary>GDEL: G_DEL to every member, then our group connections go (groups.md §6.9).</summary>
    public Task DeleteAsync(string gid, CancellationToken ct) => FarewellAsync(gid, new AgentEnvelope.GDel(), GroupStatus.Deleted, ct);

    private async Task FarewellAsync(string gid, AgentEnvelope farewell, GroupStatus status, CancellationToken ct)
    {
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            RequireActiveGroup(tx, gid);
            Envelopes.Farewell(tx, gid, farewell, status, fx);
        }, ct).ConfigureAwait(false);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
    }

    /// <summary>Forgets a finished group whose alias or id is used again, ending any group connection it still has.</summary>
    private void ForgetGroup(StoreTx tx, string gid, Effects fx)
    {
        foreach (var m in tx.ListMembers(gid)) Envelopes.DropMemberConnection(tx, m, fx);
        tx.DeleteGroup(gid);
    }

    /// <summary>GMDEL: removes a member for everyone (groups.md §6.8).</summary>
    public async Task RemoveAsync(string gid, string memberAlias, CancellationToken ct)
    {
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            RequireActiveGroup(tx, gid);
            var target = tx.MemberByDirectAlias(gid, memberAlias) ?? throw Error(AgentErrorCode.GroupMemberUnknown);
            if (!target.IsLive || target.MemberId is null) throw Error(AgentErrorCode.GroupState);
            // Our only link to the group, while members are still joining us through its introductions:
            // nobody else would hear of the removal, and we would stay in a group of our own with
            // introductions nobody can finish (§6.8). Members we invited do not link us: they reach the
            // group through us and the member removed (seed 650). Refused; GLEAVE is the way out.
            var members = tx.ListMembers(gid);
            if (target.Status == MemberStatus.Connected && !members.Any(m => m.Status == MemberStatus.Connected && m.Id != target.Id && !m.InvitedByUs)
                && members.Any(m => m.Status == MemberStatus.Joining && m.IntroducerConn == target.GroupConn))
                throw Error(AgentErrorCode.GroupState);
            Envelopes.Remove(tx, tx.GetGroup(gid)!, target, fx);
        }, ct).ConfigureAwait(false);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
    }

    /// <summary>
    /// GINFO: our own member info from now on (groups.md §6.12). Every live member we have said hello to
    /// gets it after what is already queued to it, so it arrives once we are connected there; the others
    /// get it with our hello.
    /// </summary>
    public async Task SetInfoAsync(string gid, ReadOnlyMemory<byte> memberInfo, CancellationToken ct)
    {
        if (memberInfo.Length > MaxMemberInfoSize) throw new AgentProtocolException(AgentErrorCode.CmdLarge);
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            RequireActiveGroup(tx, gid);
            tx.SetOwnInfo(gid, memberInfo.ToArray());
            Envelopes.Infos.TellGreetedMembers(tx, gid, memberInfo.ToArray(), fx);
        }, ct).ConfigureAwait(false);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
    }

    /// <summary>GMEMBERS: every member this agent knows of, with its direct alias and status.</summary>
    public Task<List<GroupMemberInfo>> MembersAsync(string gid, CancellationToken ct) =>
        _store.TransactAsync(tx =>
        {
            RequireActiveGroup(tx, gid);
            // A member introduced a moment ago has no direct connection, so no alias to name it by, and our
            // inviter has no member id until its G_HELLO: those rows wait until they can be written.
            var infos = tx.MemberInfos(gid);
            return tx.ListMembers(gid).Where(m => m.DirectAlias.Length > 0 && m.MemberId is not null)
                .Select(m => new GroupMemberInfo(m.DirectAlias, m.MemberId, WireStatus(m.Status)) { Info = infos.GetValueOrDefault(m.Id, []) }).ToList();
        }, ct);

    internal static GroupMemberStatus WireStatus(MemberStatus s) => s switch
    {
        MemberStatus.Invited => GroupMemberStatus.Invited,
        MemberStatus.Joining => GroupMemberStatus.Joining,
        MemberStatus.Connected => GroupMemberStatus.Connected,
        MemberStatus.Left => GroupMemberStatus.Left,
        MemberStatus.Failed => GroupMemberStatus.Failed,
        _ => GroupMemberStatus.Removed,
    };
}
