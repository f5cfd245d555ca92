using Microsoft.Extensions.Logging;
using Smp.Agent.Connections;
using Smp.Agent.Events;
using Smp.Agent.Groups;
using Smp.Protocol.Agent;

namespace Smp.Agent.Client;

/// <summary>
/// One client transmission in, its responses out (agent.md §2.4, groups.md §2), for every front end. Every
/// failure ends here as ERR with the transmission's corrId and alias; nothing a client sends can stop its
/// session.
/// </summary>
internal sealed class CommandDispatcher(ConnectionEngine connections, GroupLayer groups, EventRouter router, ILogger log, CancellationToken stopping)
{
    /// <summary>Handles a parsed transmission from <paramref name="session"/>, writing its direct responses to it.</summary>
    public async Task HandleAsync(ClientSession session, AgentTransmission t, CancellationToken ct)
    {
        void Respond(string alias, AgentCommand response) => session.Send(new AgentOutput(t.CorrId, alias, AgentWire.Payload(response)));

        if (t.Command is null)
        {
            Respond(t.Alias, t.CommandOrError);
            return;
        }
        try
        {
            switch (t.Command)
            {
                case AgentCommand.New:
                    var (alias, invitation) = await connections.NewAsync(session, t.Alias, ct).ConfigureAwait(false);
                    Respond(alias, new AgentCommand.Inv(invitation));
                    break;
                case AgentCommand.Join j:
                    await connections.JoinAsync(session, t.CorrId, t.Alias, j.QueueInfo, j.NoReply, ct).ConfigureAwait(false);
                    break;
                // The OK comes first, then the events that were waiting for a holder.
                case AgentCommand.Sub:
                    await connections.SubscribeAsync(session, t.Alias, false, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    await router.DispatchAsync(t.Alias).ConfigureAwait(false);
                    break;
                case AgentCommand.SubAll:
                    var all = await connections.SubscribeAllAsync(session, false, ct).ConfigureAwait(false);
                    foreach (var a in all) Respond(a, new AgentCommand.Ok());
                    if (all.Count == 0) Respond("", new AgentCommand.Ok());
                    foreach (var a in all) await router.DispatchAsync(a).ConfigureAwait(false);
                    break;
                case AgentCommand.Send s:
                    await connections.SendAsync(t.CorrId, t.Alias, s.Body, ct).ConfigureAwait(false);
                    break;
                case AgentCommand.Off:
                    await connections.SuspendAsync(t.Alias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.Del:
                    await connections.DeleteAsync(t.Alias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GNew g:
                    Respond(await groups.NewAsync(session, t.Alias, g.GroupInfo, g.MemberInfo, ct).ConfigureAwait(false), new AgentCommand.Ok());
                    break;
                case AgentCommand.GAdd g:
                    await groups.AddAsync(t.Alias, g.MemberAlias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GJoin g:
                    Respond(await groups.JoinAsync(session, t.Alias, g.InvitationId, g.MemberInfo, ct).ConfigureAwait(false), new AgentCommand.Ok());
                    break;
                case AgentCommand.GReject g:
                    await groups.RejectAsync(t.Alias, g.InvitationId, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GSend g:
                    Respond(t.Alias, new AgentCommand.GSent(await groups.SendAsync(t.Alias, g.Body, ct).ConfigureAwait(false)));
                    break;
                case AgentCommand.GLeave:
                    await groups.LeaveAsync(t.Alias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GMDel g:
                    await groups.RemoveAsync(t.Alias, g.MemberAlias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GDel:
                    await groups.DeleteAsync(t.Alias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GInfo g:
                    await groups.SetInfoAsync(t.Alias, g.MemberInfo, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GMembers:
                    foreach (var m in await groups.MembersAsync(t.Alias, ct).ConfigureAwait(false))
                        Respond(t.Alias, new AgentCommand.GMem(m.Alias, m.MemberId ?? [], m.Status, m.Info));
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                default:
                    Respond(t.Alias, new AgentCommand.Err(AgentError.Of(AgentErrorCode.CmdProhibited)));
                    break;
            }
        }
        catch (AgentProtocolException e)
        {
            Respond(t.Alias, new AgentCommand.Err(e.Error));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested || stopping.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log.LogError(e, "command {Kind} failed", t.Command.Kind);
            Respond(t.Alias, new AgentCommand.Err(AgentError.Internal(e.GetType().Name)));
        }
    }
}
