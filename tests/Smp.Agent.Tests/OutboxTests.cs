using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Smp.Agent.Events;
using Smp.Agent.Jobs;
using Smp.Agent.Runtime;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>What the outbox tells the client when a job fails for good (Outbox.FailAsync).</summary>
public sealed class OutboxTests : IAsyncLifetime
{
    private readonly CancellationTokenSource _stop = new();
    private AgentStore _store = null!;
    private Outbox _outbox = null!;

    public async Task InitializeAsync()
    {
        _store = await AgentStore.OpenAsync(":memory:");
        var tasks = new BackgroundTasks(NullLogger.Instance, _stop.Token);
        var router = new EventRouter(_store, tasks, NullLogger.Instance, _stop.Token);
        _outbox = new Outbox(_store, new AgentOptions(), router, tasks, new AgentCounters(), NullLogger.Instance, _stop.Token);
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _store.DisposeAsync();
        _stop.Dispose();
    }

    /// <summary>A SendHello job on "c" (corrId 7) fails for good; its handler says whether the owner told the client.</summary>
    private async Task<List<string>> FailAsync(bool toldByOwner)
    {
        _outbox.Register(JobKind.SendHello, new JobHandler((_, _) => Task.FromResult(JobOutcome.Done), (_, _, _) => toldByOwner));
        var id = await _store.TransactAsync(tx =>
        {
            tx.InsertConnection(new ConnectionRecord("c", ConnectionKind.Direct, ConnectionStatus.Joining));
            return tx.InsertJob("c", JobKind.SendHello, corrId: "7");
        });
        await _outbox.FailAsync(new JobRecord(id, "c", JobKind.SendHello, "7", 0, [], 0), AgentError.Of(AgentErrorCode.CmdProhibited));
        Assert.Empty(await _store.TransactAsync(tx => tx.NextJobs("c", 10)));
        return await _store.TransactAsync(tx => tx.PendingEvents("c").Select(e => $"{e.CorrId} {Encoding.UTF8.GetString(e.Payload)}").ToList());
    }

    [Fact]
    public async Task A_job_that_fails_for_good_is_an_ERR_with_its_corrId()
    {
        Assert.Equal(["7 ERR CMD PROHIBITED"], await FailAsync(toldByOwner: false));
    }

    [Fact]
    public async Task A_failure_the_owning_layer_told_in_its_own_terms_is_no_ERR_besides()
    {
        Assert.Empty(await FailAsync(toldByOwner: true));
    }
}
