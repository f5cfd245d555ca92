using Microsoft.Extensions.Logging;
using Smp.Agent.Runtime;
using Smp.Agent.Store;

namespace Smp.Agent.Events;

/// <summary>
/// Who receives what (agent.md §3, §5). Each alias (connection or group) has at most one holder, a
/// <see cref="ClientSession"/>. Events are stored rows; <see cref="DispatchAsync"/> copies the ones the
/// holder has not been given yet into its output, and a row leaves the store only when the holder's front
/// end reports it written (<see cref="DeliveredAsync"/>). Without a holder, events wait.
/// </summary>
internal sealed class EventRouter(AgentStore store, BackgroundTasks tasks, ILogger log, CancellationToken stopping)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Holding> _holders = new(StringComparer.Ordinal);

    /// <summary>Events written to a client whose row is not deleted yet: a new holder must not get them again.</summary>
    private readonly HashSet<long> _written = [];

    /// <summary>An alias's holder and the highest event id already queued to it, so a re-dispatch repeats none.</summary>
    private sealed class Holding(ClientSession session)
    {
        public ClientSession Session { get; } = session;
        public long LastQueued { get; set; }
    }

    /// <summary>Makes <paramref name="session"/> the holder of <paramref name="alias"/>; a previous holder gets END.</summary>
    /// <remarks>With <paramref name="dispatch"/> false the caller dispatches, after writing its own response first.</remarks>
    public void Hold(ClientSession session, string alias, bool dispatch = true)
    {
        ClientSession? previous = null;
        lock (_lock)
        {
            if (_holders.TryGetValue(alias, out var holding)) previous = holding.Session;
            // The same session holding again keeps its place: what it was queued is still in its output.
            if (previous != session) _holders[alias] = new Holding(session);
        }
        if (previous is not null && previous != session) previous.Send(new AgentOutput("", alias, AgentWire.End));
        if (dispatch) tasks.Run("dispatching events", () => DispatchAsync(alias));
    }

    public void Release(string alias)
    {
        lock (_lock) _holders.Remove(alias);
    }

    /// <summary>Forgets a session: the aliases it held wait (their events stay stored) for the next holder.</summary>
    public void Disconnect(ClientSession session)
    {
        lock (_lock)
        {
            foreach (var alias in _holders.Where(kv => kv.Value.Session == session).Select(kv => kv.Key).ToList()) _holders.Remove(alias);
        }
        session.Close();
    }

    public ClientSession? HolderOf(string alias)
    {
        lock (_lock) return _holders.TryGetValue(alias, out var h) ? h.Session : null;
    }

    /// <summary>Queues every stored event of <paramref name="alias"/> not yet queued to its holder.</summary>
    public async Task DispatchAsync(string alias)
    {
        var session = HolderOf(alias);
        if (session is null || session.Closed) return;
        List<EventRecord> pending;
        try
        {
            // Filtered inside the transaction: transactions run one at a time, and a written event is in
            // _written from before the transaction that deletes its row until after it, so a row read here
            // that was written is skipped.
            pending = await store.TransactAsync(tx =>
            {
                var rows = tx.PendingEvents(alias);
                lock (_lock) rows.RemoveAll(e => _written.Contains(e.Id));
                return rows;
            }, stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (stopping.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException)
        {
            return;
        }
        lock (_lock)
        {
            if (!_holders.TryGetValue(alias, out var holding) || holding.Session != session) return;
            foreach (var e in pending)
            {
                if (e.Id <= holding.LastQueued) continue;
                session.Send(new AgentOutput(e.CorrId, e.Alias, e.Payload) { EventId = e.Id });
                holding.LastQueued = e.Id;
            }
        }
    }

    /// <summary>Called by a front end once an output has been written to its client: a stored event is dropped.</summary>
    public async Task DeliveredAsync(AgentOutput output)
    {
        if (output.EventId == 0) return;
        lock (_lock) _written.Add(output.EventId);
        try
        {
            await store.TransactAsync(tx => tx.DeleteEvent(output.EventId)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ObjectDisposedException || (stopping.IsCancellationRequested && e is OperationCanceledException))
        {
            // The agent is stopping: the event stays stored and is written again to the next holder.
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "could not drop a delivered event");
        }
        finally
        {
            lock (_lock) _written.Remove(output.EventId);
        }
    }

    /// <summary>A live notification not worth storing (DOWN/UP), to the holder if there is one.</summary>
    public void NotifyLive(string alias, byte[] payload) => HolderOf(alias)?.Send(new AgentOutput("", alias, payload));

    /// <summary>What a committed transaction asked of routing: inherited holders, then dispatches.</summary>
    public async Task RunAsync(Effects fx)
    {
        foreach (var (alias, owner) in fx.Inherit)
        {
            if (HolderOf(owner) is { } holder) Hold(holder, alias);
        }
        foreach (var alias in fx.Dispatch) await DispatchAsync(alias).ConfigureAwait(false);
    }

    public void CloseAll()
    {
        lock (_lock)
        {
            foreach (var s in _holders.Values.Select(h => h.Session).Distinct()) s.Close();
            _holders.Clear();
        }
    }
}
