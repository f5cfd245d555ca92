using Smp.Agent.Connections;
using Smp.Agent.Runtime;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Groups;

/// <summary>
/// Who is who (groups.md §6.12): each member tells every peer its own info itself, on the group connection
/// bound to it, so a third member cannot put words in its mouth.
/// </summary>
internal sealed class MemberInfos(IConnections conns)
{
    private readonly IConnections _conns = conns;

    /// <summary>
    /// Queues our own info of group <paramref name="gid"/> on <paramref name="groupConn"/>, right after our
    /// G_HELLO or G_JOIN there: the peer accepts it once that made us connected. Nothing when we have none.
    /// </summary>
    internal void QueueOwnInfo(StoreTx tx, string gid, string groupConn, Effects fx)
    {
        var info = tx.GetOwnInfo(gid);
        if (info.Length > 0) _conns.Queue(tx, groupConn, new AgentEnvelope.GInfo(info), fx);
    }

    /// <summary>
    /// GINFO: our changed info goes to every live member we already said G_HELLO or G_JOIN to, after what is
    /// queued to it; the others will get it right after our hello (<see cref="QueueOwnInfo"/>). Sent earlier,
    /// it would reach them before they count us as connected, and be refused.
    /// </summary>
    internal void TellGreetedMembers(StoreTx tx, string gid, byte[] info, Effects fx)
    {
        var envelope = new AgentEnvelope.GInfo(info);
        foreach (var m in tx.ListMembers(gid).Where(m => m.IsLive && m.HelloSent && m.GroupConn.Length > 0)) _conns.Queue(tx, m.GroupConn, envelope, fx);
    }

    /// <summary>
    /// G_INFO: the member on this connection says who it is. Only from a connected member of an active group,
    /// and within the size limit; a later one replaces the earlier.
    /// </summary>
    internal static bool OnInfo(StoreTx tx, GroupRecord g, MemberRecord from, AgentEnvelope.GInfo info)
    {
        if (g.Status != GroupStatus.Active || from.Status != MemberStatus.Connected || info.Info.Length > GroupLayer.MaxMemberInfoSize) return false;
        tx.SetMemberInfo(from.Id, info.Info.ToArray());
        // A connected member always has a direct alias; the guard keeps a nameless one from breaking the event.
        if (from.DirectAlias.Length > 0) GroupEnvelopeHandler.GroupEvent(tx, g, new AgentCommand.GMInfo(from.DirectAlias, info.Info));
        return true;
    }
}
