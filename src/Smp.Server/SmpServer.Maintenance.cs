using Microsoft.Extensions.Logging;

namespace Smp.Server;

/// <summary>Periodic work: dropping expired messages, compacting the journal, the stats line.</summary>
public sealed partial class SmpServer
{
    private async Task MaintenanceLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.MaintenanceInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false)) RunMaintenance();
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One maintenance pass; tests call it directly instead of waiting for the timer.</summary>
    internal void RunMaintenance()
    {
        try
        {
            var cutoff = _state.ExpiryCutoff;
            long expired = 0;
            foreach (var q in _state.Store.Queues)
            {
                if (q.MessageCount == 0) continue;
                lock (q) expired += q.DropExpired(cutoff);
            }
            _state.Counters.Expired(expired);
            if (expired > 0) _logger.LogInformation("{Count} expired message(s) dropped", expired);
            _state.Journal.CompactIfWorthwhile(_state.Counters.Stored);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogError(e, "maintenance failed; will retry");
        }
    }

    private async Task StatsLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.StatsInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                var s = Stats;
                _logger.LogInformation("stats: {Connections} connection(s), {Queues} queue(s), {Stored} stored message(s), {In} in, {Out} out, {Expired} expired",
                    s.Connections, s.Queues, s.StoredMessages, s.MessagesIn, s.MessagesOut, s.MessagesExpired);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
