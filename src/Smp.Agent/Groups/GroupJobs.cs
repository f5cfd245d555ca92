using Smp.Agent.Connections;
using Smp.Agent.Jobs;
using Smp.Agent.Runtime;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Groups;

/// <summary>
/// The group layer's outbox jobs: the parts of an invitation and an introduction that need new queues on
/// a server (groups.md §6.2, §6.4). Each makes its queues, then in one transaction records the connections
/// and queues the envelope that carries the invitations, after everything already queued on the
/// connection (so the connection's chain stays in sending order).
/// </summary>
internal sealed class GroupJobs(AgentStore store, IConnections conns, Outbox outbox)
{
    public void Register()
    {
        outbox.Register(JobKind.GroupInvite, new JobHandler(InviteAsync));
        outbox.Register(JobKind.GroupIntroInvite, new JobHandler(IntroInviteAsync, IntroInviteFailed));
    }

    private static long MemberRow(JobRecord job) => BitConverter.ToInt64(job.Body);

    /// <summary>GADD's network half: the group connection for the invitee, then G_INV on the direct connection.</summary>
    private async Task<JobOutcome> InviteAsync(JobRecord job, CancellationToken ct)
    {
        var member = await store.TransactAsync(tx => tx.GetMember(MemberRow(job))).ConfigureAwait(false);
        if (member is null || member.Status != MemberStatus.Invited)
        {
            await store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return JobOutcome.Done;
        }
        var queue = await conns.MakeReceiveQueueAsync(GroupLayer.NewGroupConnAlias(), ct).ConfigureAwait(false);
        var fx = new Effects();
        await store.TransactAsync(tx =>
        {
            tx.DeleteJob(job.Id);
            var g = tx.GetGroup(member.GroupAlias);
            if (g is null || g.Status != GroupStatus.Active || tx.GetMember(member.Id)?.Status != MemberStatus.Invited) return;
            var invitation = new AgentEnvelope.GInv(member.InvId!, g.GroupId, member.MemberId!, member.Clvl, queue.Invitation, g.Info);
            if (!conns.Queue(tx, job.Alias, invitation, fx)) return;
            conns.AddInviting(tx, queue, ConnectionKind.Group, g.Alias);
            tx.SetMemberConnections(member.Id, queue.Alias, member.DirectAlias);
        }).ConfigureAwait(false);
        await outbox.RunEffectsAsync(fx).ConfigureAwait(false);
        return JobOutcome.Done;
    }

    /// <summary>G_MEM's network half at the invitee: group and direct queues for the member, then G_INV_MEM.</summary>
    private async Task<JobOutcome> IntroInviteAsync(JobRecord job, CancellationToken ct)
    {
        var member = await store.TransactAsync(tx => tx.GetMember(MemberRow(job))).ConfigureAwait(false);
        // A member made again by a later introduction belongs to that one's job (groups.md §6.11).
        if (member is null || member.Status != MemberStatus.Joining || member.GroupConn.Length > 0 || member.IntroducerConn != job.Alias)
        {
            await store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return JobOutcome.Done;
        }
        var groupQueue = await conns.MakeReceiveQueueAsync(GroupLayer.NewGroupConnAlias(), ct).ConfigureAwait(false);
        var directQueue = await conns.MakeReceiveQueueAsync(Keys.NewAlias(), ct).ConfigureAwait(false);
        var fx = new Effects();
        await store.TransactAsync(tx =>
        {
            tx.DeleteJob(job.Id);
            if (tx.GetMember(member.Id) is not { Status: MemberStatus.Joining, GroupConn.Length: 0 } now || now.IntroducerConn != job.Alias) return;
            if (!conns.Queue(tx, job.Alias, new AgentEnvelope.GInvMem(now.IntroId!, groupQueue.Invitation, directQueue.Invitation), fx)) return;
            conns.AddInviting(tx, groupQueue, ConnectionKind.Group, member.GroupAlias);
            conns.AddInviting(tx, directQueue, ConnectionKind.Direct, "");
            tx.SetMemberConnections(member.Id, groupQueue.Alias, directQueue.Alias);
            // The new direct connection belongs to whoever holds the group.
            fx.Inherit.Add((directQueue.Alias, member.GroupAlias));
        }).ConfigureAwait(false);
        await outbox.RunEffectsAsync(fx).ConfigureAwait(false);
        return JobOutcome.Done;
    }

    /// <summary>The introducer must hear of a failed introduction, or it waits for it for ever (groups.md §6.4).</summary>
    private bool IntroInviteFailed(StoreTx tx, JobRecord job, Effects fx)
    {
        if (tx.GetMember(MemberRow(job)) is not { IntroId: not null } member || member.IntroducerConn != job.Alias) return false;
        // Failed, not removed: a removed member is a tombstone, and this one may be introduced again (§6.11).
        tx.SetMemberStatus(member.Id, MemberStatus.Failed);
        conns.Queue(tx, job.Alias, new AgentEnvelope.GAddErr(member.IntroId, GroupAddErrorReason.JoinFailed), fx);
        return false;
    }
}
