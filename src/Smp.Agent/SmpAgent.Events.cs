using Microsoft.Extensions.Logging;
using Smp.Agent.Store;

namespace Smp.Agent;

// Event routing (agent.md §5): notifications are stored with the state change that caused them and
// leave the store only once the holding client has been written them.
public sealed partial class SmpAgent
{
    /// <summary>Makes <paramref name="session"/> the holder of <paramref name="alias"/>; the previous holder gets END.</summary>
    /// <remarks>With <paramref name="dispatch"/> false the caller dispatches, after writing its own response first.</remarks>
    internal void Hold(ClientSession session, string alias, bool dispatch = true)
    {
        ClientSession? previous;
        lock (_holdersLock)
        {
            _holders.TryGetValue(alias, out previous);
            _holders[alias] = session;
            session.Queued.Remove(alias);
        }
        if (previous is not null && previous != session) previous.Send(new AgentOutput("", alias, AgentWire.End));
        if (dispatch) _ = DispatchAsync(alias);
    }

    internal void Release(string alias)
    {
        lock (_holdersLock) _holders.Remove(alias);
    }

    internal ClientSession? HolderOf(string alias)
    {
        lock (_holdersLock) return _holders.TryGetValue(alias, out var s) ? s : null;
    }

    /// <summary>Queues every stored event of <paramref name="alias"/> not yet queued to its holder.</summary>
    internal async Task DispatchAsync(string alias)
    {
        var session = HolderOf(alias);
        if (session is null || session.Closed) return;
        List<EventRecord> pending;
        try
        {
            pending = await _store.TransactAsync(tx => tx.PendingEvents(alias), _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (ObjectDisposedException)
        {
            return;
        }
        lock (_holdersLock)
        {
            if (!_holders.TryGetValue(alias, out var holder) || holder != session) return;
            session.Queued.TryGetValue(alias, out var last);
            foreach (var e in pending)
            {
                if (e.Id <= last) continue;
                session.Send(new AgentOutput(e.CorrId, e.Alias, e.Payload) { EventId = e.Id });
                last = e.Id;
            }
            session.Queued[alias] = last;
        }
    }

    /// <summary>Called by a front end once an output has been written to its client.</summary>
    public async Task DeliveredAsync(AgentOutput output)
    {
        if (output.EventId == 0) return;
        try
        {
            await _store.TransactAsync(tx => tx.DeleteEvent(output.EventId)).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _log.LogWarning(e, "could not drop a delivered event");
        }
    }

    /// <summary>Sends a live notification that is not worth storing (DOWN/UP) to the holder, if any.</summary>
    internal void NotifyLive(string alias, byte[] payload) => HolderOf(alias)?.Send(new AgentOutput("", alias, payload));
}
