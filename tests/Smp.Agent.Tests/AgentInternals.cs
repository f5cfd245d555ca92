using Smp.Agent.Store;
using Smp.Agent.Groups;
using Smp.Agent.Runtime;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>What tests do inside an agent, through its internal layer APIs: production types carry no test hooks.</summary>
internal static class AgentInternals
{
    /// <summary>Queues any envelope on a connection, as a misbehaving peer would send it.</summary>
    public static async Task QueueEnvelopeAsync(this SmpAgent agent, string alias, AgentEnvelope envelope)
    {
        var fx = new Effects();
        Assert.True(await agent.Store.TransactAsync(tx => agent.Connections.Queue(tx, alias, envelope, fx)), $"no send queue on {alias}");
        await agent.Outbox.RunEffectsAsync(fx);
    }

    /// <summary>
    /// Waits, with the tests' patience, until the store shows <paramref name="condition"/>: for state that no
    /// event announces (a job retried, a connection gone).
    /// </summary>
    public static async Task WaitForStoreAsync(this SmpAgent agent, Func<StoreTx, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TestSupport.Patience;
        while (!await agent.Store.TransactAsync(condition))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{agent.Options.DatabasePath}: never came: {what}");
            await Task.Delay(10);
        }
    }

    /// <summary>Queues a last envelope on a connection and ends it after that, as a group's farewell does.</summary>
    public static async Task SayGoodbyeAndDropAsync(this SmpAgent agent, string alias, AgentEnvelope farewell)
    {
        var fx = new Effects();
        await agent.Store.TransactAsync(tx =>
        {
            Assert.True(agent.Connections.Queue(tx, alias, farewell, fx), $"no send queue on {alias}");
            agent.Connections.Drop(tx, alias, abandonQueued: false, fx);
        });
        await agent.Outbox.RunEffectsAsync(fx);
    }

    /// <summary>A group's record and its members as this agent holds them.</summary>
    public static Task<(GroupRecord? Group, List<MemberRecord> Members)> GroupStateAsync(this SmpAgent agent, string gid) =>
        agent.Store.TransactAsync(tx => (tx.GetGroup(gid), tx.ListMembers(gid)));

    /// <summary>
    /// Forgets that the group's members sent views, as if they were agents of the version before G_VIEW. Each
    /// connected member sends its view once, on connecting (§6.11): it waits for them all first, so that none
    /// lands after and undoes this.
    /// </summary>
    public static async Task ForgetViewsAsync(this SmpAgent agent, string gid)
    {
        await agent.WaitForStoreAsync(tx => tx.ListMembers(gid).Where(m => m.Status == MemberStatus.Connected).All(m => tx.Gossips(m.Id)),
            $"{gid}: every connected member's view");
        await agent.Store.TransactAsync(tx =>
        {
            tx.Exec("UPDATE members SET gossips = 0 WHERE group_alias = $g", ("$g", gid));
            tx.Exec("DELETE FROM member_views WHERE reporter IN (SELECT id FROM members WHERE group_alias = $g)", ("$g", gid));
        });
    }
}
