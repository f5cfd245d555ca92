using Microsoft.Extensions.Logging.Abstractions;
using Smp.Agent.Events;
using Smp.Agent.Runtime;
using Smp.Agent.Store;

namespace Smp.Agent.Tests;

/// <summary>The event router on its own, over an in-memory store: what a new holder is given.</summary>
public sealed class EventRouterTests : IAsyncLifetime
{
    private readonly CancellationTokenSource _stop = new();
    private AgentStore _store = null!;
    private EventRouter _router = null!;

    public async Task InitializeAsync()
    {
        _store = await AgentStore.OpenAsync(":memory:");
        _router = new EventRouter(_store, new BackgroundTasks(NullLogger.Instance, _stop.Token), NullLogger.Instance, _stop.Token);
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _store.DisposeAsync();
        _stop.Dispose();
    }

    [Fact]
    public async Task An_event_written_to_a_client_that_left_is_not_given_to_the_next_holder_while_its_row_is_being_deleted()
    {
        // A client reads CON and goes; the next one subscribes at once, and its dispatch reads the stored
        // events before the transaction deleting the written one has run (a busy store). Pins the router's
        // set of written events: without it the next holder gets CON a second time.
        await _store.TransactAsync(tx => tx.InsertEvent("bob", "", "CON"u8.ToArray()));
        var first = new ClientSession("first");
        _router.Hold(first, "bob", dispatch: false);
        await _router.DispatchAsync("bob");
        Assert.True(first.Output.TryRead(out var con));
        _router.Disconnect(first);
        var second = new ClientSession("second");
        _router.Hold(second, "bob", dispatch: false);

        using var busy = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = Task.Run(() => _store.TransactAsync(_ =>
        {
            entered.SetResult();
            busy.Wait();
        }));
        await entered.Task.WaitAsync(TestSupport.Patience);
        // Both wait for the store in this order (its gate lets waiters in first come, first served).
        var dispatch = _router.DispatchAsync("bob");
        var delivered = _router.DeliveredAsync(con!);
        busy.Set();
        await Task.WhenAll(holding, dispatch, delivered).WaitAsync(TestSupport.Patience);

        Assert.False(second.Output.TryRead(out var again), $"given again: {again?.Alias}");
        Assert.Empty(await _store.TransactAsync(tx => tx.PendingEvents("bob")));
    }
}
