using Microsoft.Extensions.Logging;

namespace Smp.Agent.Runtime;

/// <summary>
/// Every task the agent starts without awaiting it on the spot. A failure is logged, never lost, and
/// <see cref="DrainAsync"/> waits for all of them when the agent stops.
/// </summary>
internal sealed class BackgroundTasks(ILogger log, CancellationToken stopping)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<long, Task> _running = [];
    private long _next;

    public int Count
    {
        get
        {
            lock (_lock) return _running.Count;
        }
    }

    public void Run(string what, Func<Task> work)
    {
        lock (_lock)
        {
            var id = ++_next;
            _running[id] = Task.Run(() => WatchAsync(id, what, work));
        }
    }

    private async Task WatchAsync(long id, string what, Func<Task> work)
    {
        try
        {
            await work().ConfigureAwait(false);
        }
        catch (Exception e) when (stopping.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException)
        {
            // Expected while the agent stops.
        }
        catch (Exception e)
        {
            log.LogError(e, "{Work} failed", what);
        }
        finally
        {
            lock (_lock) _running.Remove(id);
        }
    }

    /// <summary>Waits until every task has ended, including ones started while waiting.</summary>
    public async Task DrainAsync()
    {
        while (true)
        {
            Task[] tasks;
            lock (_lock) tasks = [.. _running.Values];
            if (tasks.Length == 0) return;
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
    }
}
