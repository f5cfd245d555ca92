using Microsoft.Extensions.Logging;
using Smp.Protocol.Agent;

namespace Smp.Agent;

// One client transmission in, its responses out (agent.md §3, groups.md §2). Every failure ends here as
// ERR with the transmission's corrId and alias; nothing a client sends can stop its session.
public sealed partial class SmpAgent
{
    /// <summary>Handles a parsed transmission from <paramref name="session"/>, writing its direct responses to it.</summary>
    public async Task HandleAsync(ClientSession session, AgentTransmission t, CancellationToken ct = default)
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
                    var (alias, invitation) = await NewAsync(session, t.Alias, ct).ConfigureAwait(false);
                    Respond(alias, new AgentCommand.Inv(invitation));
                    break;
                case AgentCommand.Join j:
                    await JoinAsync(session, t.CorrId, t.Alias, j.QueueInfo, j.NoReply, ct).ConfigureAwait(false);
                    break;
                // The OK comes first, then the events that were waiting for a holder.
                case AgentCommand.Sub:
                    await SubscribeAsync(session, t.Alias, false, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    await DispatchAsync(t.Alias).ConfigureAwait(false);
                    break;
                case AgentCommand.SubAll:
                    var all = await SubscribeAllAsync(session, false, ct).ConfigureAwait(false);
                    foreach (var a in all) Respond(a, new AgentCommand.Ok());
                    if (all.Count == 0) Respond("", new AgentCommand.Ok());
                    foreach (var a in all) await DispatchAsync(a).ConfigureAwait(false);
                    break;
                case AgentCommand.Send s:
                    await SendAsync(t.CorrId, t.Alias, s.Body, ct).ConfigureAwait(false);
                    break;
                case AgentCommand.Off:
                    await SuspendAsync(t.Alias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.Del:
                    await DeleteAsync(t.Alias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GNew g:
                    Respond(await GroupNewAsync(session, t.Alias, g.GroupInfo, ct).ConfigureAwait(false), new AgentCommand.Ok());
                    break;
                case AgentCommand.GAdd g:
                    await GroupAddAsync(t.Alias, g.MemberAlias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GJoin g:
                    Respond(await GroupJoinAsync(session, t.Alias, g.InvitationId, ct).ConfigureAwait(false), new AgentCommand.Ok());
                    break;
                case AgentCommand.GReject g:
                    await GroupRejectAsync(t.Alias, g.InvitationId, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GSend g:
                    Respond(t.Alias, new AgentCommand.GSent(await GroupSendAsync(t.Alias, g.Body, ct).ConfigureAwait(false)));
                    break;
                case AgentCommand.GLeave:
                    await GroupLeaveAsync(t.Alias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GMDel g:
                    await GroupRemoveAsync(t.Alias, g.MemberAlias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GDel:
                    await GroupDeleteAsync(t.Alias, ct).ConfigureAwait(false);
                    Respond(t.Alias, new AgentCommand.Ok());
                    break;
                case AgentCommand.GMembers:
                    foreach (var m in await GroupMembersAsync(t.Alias, ct).ConfigureAwait(false))
                        Respond(t.Alias, new AgentCommand.GMem(m.Alias, m.MemberId ?? [], m.Status));
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
        catch (OperationCanceledException) when (ct.IsCancellationRequested || _stop.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.LogError(e, "command {Kind} failed", t.Command.Kind);
            Respond(t.Alias, new AgentCommand.Err(AgentError.Internal(e.GetType().Name)));
        }
    }
}
