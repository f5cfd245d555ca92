using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Smp.Agent.Client;
using Smp.Agent.Connections;
using Smp.Agent.Events;
using Smp.Agent.Groups;
using Smp.Agent.Runtime;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent;

/// <summary>
/// The key pool's counters (agent.md, "Key pool"): keys read from the database at start, made ahead by the
/// refill thread, made on the spot because none was ready, and used by queues; <c>Ready</c> is the pool now.
/// </summary>
public readonly record struct KeyPoolStatus(int Loaded, long GeneratedAhead, long GeneratedOnDemand, long Used, int Ready);

/// <summary>A member as GMEMBERS lists it.</summary>
public sealed record GroupMemberInfo(string Alias, byte[]? MemberId, GroupMemberStatus Status)
{
    /// <summary>The member's own info as it sent it (G_INFO, groups.md §6.12); empty while none came.</summary>
    public byte[] Info { get; init; } = [];

    /// <summary>Invited, joining or connected; not left, removed or failed.</summary>
    public bool IsLive => Status.IsLive();
}

/// <summary>
/// The SMP agent (agent.md): turns simplex queues into duplex connections for its clients, and connections
/// into groups. This type only composes the layers (architecture.md, "Layers") and is the in-process API;
/// the work is theirs: <see cref="ConnectionEngine"/> and <see cref="Receiver"/> below,
/// <see cref="GroupLayer"/> above through <see cref="IConnections"/>, with the <see cref="Outbox"/>,
/// the <see cref="EventRouter"/> and the store shared beneath.
/// </summary>
public sealed class SmpAgent : IAsyncDisposable
{
    /// <summary>Transport block size the padded envelope size is computed for (smp.md §2).</summary>
    public const int BlockSize = Envelopes.BlockSize;

    /// <summary>End-to-end keys are RSA-2048: the envelope header does not fit OAEP under 1024 bits.</summary>
    public const int E2eKeyBits = Envelopes.E2eKeyBits;

    /// <summary>The name of the <see cref="System.Diagnostics.Metrics.Meter"/> every agent publishes its instruments on (docs/agent.md, "Metrics").</summary>
    public const string MeterName = "Smp.Agent";

    /// <inheritdoc cref="GroupLayer.MaxGroupInfoSize"/>
    public const int MaxGroupInfoSize = GroupLayer.MaxGroupInfoSize;

    /// <inheritdoc cref="GroupLayer.MaxMemberInfoSize"/>
    public const int MaxMemberInfoSize = GroupLayer.MaxMemberInfoSize;

    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _log;
    private readonly SmpClientPool _smp;
    private readonly KeyPool _keys;
    private readonly BackgroundTasks _tasks;
    private readonly Receiver _receiver;
    private readonly CommandDispatcher _commands;
    private readonly AgentMetrics _metrics;
    private Task _receiveLoop = Task.CompletedTask;

    private SmpAgent(AgentOptions options, AgentStore store, KeyPool keys)
    {
        Options = options;
        Store = store;
        _log = options.LoggerFactory.CreateLogger("Smp.Agent");
        var stopping = _stop.Token;
        // The pool logs servers lost and back: to the agent's loggers unless its options bring their own.
        _smp = new SmpClientPool(options.SmpClient.LoggerFactory is NullLoggerFactory
            ? options.SmpClient with { LoggerFactory = options.LoggerFactory }
            : options.SmpClient);
        var counters = new AgentCounters();
        _keys = keys;
        _tasks = new BackgroundTasks(_log, stopping);
        Events = new EventRouter(store, _tasks, _log, stopping);
        Outbox = new Jobs.Outbox(store, options, Events, _tasks, counters, _log, stopping);
        Connections = new ConnectionEngine(options, store, _smp, _keys, Events, Outbox, _tasks, _log, stopping);
        new ConnectionJobs(Connections, store, Events, Outbox, counters, options).Register();
        Groups = new GroupLayer(store, Connections, Events, Outbox, _log, options.GroupViews, options.GroupHistorySize);
        Connections.Attach(Groups);
        _receiver = new Receiver(Connections, store, Events, Outbox, options, _tasks, counters, _log, stopping);
        _commands = new CommandDispatcher(Connections, Groups, Events, _log, stopping);
        _metrics = new AgentMetrics(store, counters, _smp, options.MetricsStoreCache);
    }

    public AgentOptions Options { get; }

    internal AgentStore Store { get; }

    internal EventRouter Events { get; }

    internal Jobs.Outbox Outbox { get; }

    internal ConnectionEngine Connections { get; }

    internal GroupLayer Groups { get; }

    /// <summary>This agent's meter (named <see cref="MeterName"/>), for listeners that want this agent's instruments only.</summary>
    public System.Diagnostics.Metrics.Meter Meter => _metrics.Meter;

    public KeyPoolStatus KeyPoolStatus => new(_keys.Loaded, _keys.GeneratedAhead, _keys.GeneratedOnDemand, _keys.Used,
        _keys.Ready(Options.KeyBits) + (Options.KeyBits == E2eKeyBits ? 0 : _keys.Ready(E2eKeyBits)));

    /// <summary>Completes once the key pool holds <see cref="AgentOptions.KeyPoolSize"/> keys (at once for size 0): warm setup from then on.</summary>
    public Task WhenKeyPoolFullAsync(CancellationToken ct = default) => _keys.WhenFullAsync().WaitAsync(ct);

    /// <summary>Padded plaintext size of every envelope we seal: 3,072 bytes with 4,096-byte blocks.</summary>
    public static int PaddedSize => Envelopes.PaddedSize;

    /// <summary>Opens the store, starts listening on every receive queue and resumes every unfinished job.</summary>
    public static async Task<SmpAgent> StartAsync(AgentOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var store = await AgentStore.OpenAsync(options.DatabasePath, options.FullSync, ct).ConfigureAwait(false);
        KeyPool keys;
        try
        {
            keys = await KeyPool.OpenAsync(store, KeyPool.Targets(options.KeyBits, E2eKeyBits, options.KeyPoolSize),
                options.LoggerFactory.CreateLogger("Smp.Agent.KeyPool")).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        var agent = new SmpAgent(options, store, keys);
        agent._receiveLoop = Task.Run(agent.ReceiveAsync, CancellationToken.None);
        await agent.Connections.ResumeAsync().ConfigureAwait(false);
        await agent._receiver.ResumeHeldAsync().ConfigureAwait(false);
        agent._tasks.Run("expiring introductions", () => agent.Groups.ExpireIntroductionsAsync(options.IntroductionTimeout, agent._stop.Token));
        agent._log.LogInformation("agent started with database {Database}; SMP servers for new queues: {Relays}", store.Path, options.Servers.Count);
        return agent;
    }

    private async Task ReceiveAsync()
    {
        try
        {
            await _receiver.RunAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (_stop.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException)
        {
        }
        catch (Exception e)
        {
            _log.LogCritical(e, "the receive loop stopped; no more messages are received until the agent restarts");
        }
    }

    /// <summary>A new client of this agent; end it with <see cref="Disconnect"/>.</summary>
    public ClientSession Connect(string name = "client") => new(name);

    /// <summary>Forgets a client: its held connections wait (events stay stored) for the next holder.</summary>
    public void Disconnect(ClientSession session) => Events.Disconnect(session);

    /// <summary>Handles a parsed transmission from <paramref name="session"/>, writing its direct responses to it.</summary>
    public Task HandleAsync(ClientSession session, AgentTransmission t, CancellationToken ct = default) => _commands.HandleAsync(session, t, ct);

    /// <summary>Called by a front end once an output has been written to its client: a stored event leaves the store.</summary>
    public Task DeliveredAsync(AgentOutput output) => Events.DeliveredAsync(output);

    /// <summary>
    /// Everything the agent sends <paramref name="session"/>, parsed. A stored event leaves the store once the
    /// consumer asks for the next one, so an app that stops mid-way gets the rest after a restart.
    /// </summary>
    public async IAsyncEnumerable<AgentEvent> EventsAsync(ClientSession session, [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        await foreach (var output in session.Output.ReadAllAsync(ct).ConfigureAwait(false))
        {
            yield return new AgentEvent(output.CorrId, output.Alias, AgentEvent.ParsePayload(output.Payload));
            await Events.DeliveredAsync(output).ConfigureAwait(false);
        }
    }

    // --- connections (agent.md §2.4) ---

    /// <summary>NEW: creates a receive queue and returns the invitation for the peer.</summary>
    public Task<(string Alias, Protocol.Encodings.SmpQueueInfo Invitation)> NewAsync(ClientSession session, string alias, CancellationToken ct = default) =>
        Connections.NewAsync(session, alias, ct);

    /// <summary>JOIN: CON follows when the handshake completes; errors carry <paramref name="corrId"/>.</summary>
    public Task<string> JoinAsync(ClientSession session, string corrId, string alias, Protocol.Encodings.SmpQueueInfo invitation, bool noReply,
        CancellationToken ct = default) => Connections.JoinAsync(session, corrId, alias, invitation, noReply, ct);

    /// <summary>SUB: this client becomes the holder of a connection or group; the previous one gets END.</summary>
    public Task SubscribeAsync(ClientSession session, string alias, CancellationToken ct = default) => Connections.SubscribeAsync(session, alias, true, ct);

    /// <summary>SUBALL: holds every direct connection and group; returns their aliases.</summary>
    public Task<List<string>> SubscribeAllAsync(ClientSession session, CancellationToken ct = default) => Connections.SubscribeAllAsync(session, true, ct);

    /// <summary>SEND: SENT follows with this corrId when the server accepts the message; returns its agent message id.</summary>
    public Task<long> SendAsync(string corrId, string alias, ReadOnlyMemory<byte> body, CancellationToken ct = default) =>
        Connections.SendAsync(corrId, alias, body, ct);

    /// <summary>OFF: suspends our receive queue.</summary>
    public Task SuspendAsync(string alias, CancellationToken ct = default) => Connections.SuspendAsync(alias, ct);

    /// <summary>DEL: deletes our receive queue and the connection.</summary>
    public Task DeleteAsync(string alias, CancellationToken ct = default) => Connections.DeleteAsync(alias, ct);

    // --- groups (groups.md §2) ---

    public Task<string> GroupNewAsync(ClientSession session, string gid, ReadOnlyMemory<byte> info, CancellationToken ct = default) =>
        Groups.NewAsync(session, gid, info, ReadOnlyMemory<byte>.Empty, ct);

    /// <summary>GNEW with our own member info (groups.md §6.12; empty = none, at most <see cref="MaxMemberInfoSize"/> bytes).</summary>
    public Task<string> GroupNewAsync(ClientSession session, string gid, ReadOnlyMemory<byte> info, ReadOnlyMemory<byte> memberInfo, CancellationToken ct = default) =>
        Groups.NewAsync(session, gid, info, memberInfo, ct);

    public Task GroupAddAsync(string gid, string memberAlias, CancellationToken ct = default) => Groups.AddAsync(gid, memberAlias, ct);

    public Task<string> GroupJoinAsync(ClientSession session, string gid, byte[] invId, CancellationToken ct = default) =>
        Groups.JoinAsync(session, gid, invId, ReadOnlyMemory<byte>.Empty, ct);

    /// <summary>GJOIN with our own member info (groups.md §6.12; empty = none, at most <see cref="MaxMemberInfoSize"/> bytes).</summary>
    public Task<string> GroupJoinAsync(ClientSession session, string gid, byte[] invId, ReadOnlyMemory<byte> memberInfo, CancellationToken ct = default) =>
        Groups.JoinAsync(session, gid, invId, memberInfo, ct);

    public Task GroupRejectAsync(string directAlias, byte[] invId, CancellationToken ct = default) => Groups.RejectAsync(directAlias, invId, ct);

    public Task<byte[]> GroupSendAsync(string gid, ReadOnlyMemory<byte> body, CancellationToken ct = default) => Groups.SendAsync(gid, body, ct);

    public Task GroupLeaveAsync(string gid, CancellationToken ct = default) => Groups.LeaveAsync(gid, ct);

    public Task GroupDeleteAsync(string gid, CancellationToken ct = default) => Groups.DeleteAsync(gid, ct);

    public Task GroupRemoveAsync(string gid, string memberAlias, CancellationToken ct = default) => Groups.RemoveAsync(gid, memberAlias, ct);

    /// <summary>GINFO: our own member info in the group from now on, told to every member (groups.md §6.12; empty = none).</summary>
    public Task GroupSetInfoAsync(string gid, ReadOnlyMemory<byte> memberInfo, CancellationToken ct = default) => Groups.SetInfoAsync(gid, memberInfo, ct);

    public Task<List<GroupMemberInfo>> GroupMembersAsync(string gid, CancellationToken ct = default) => Groups.MembersAsync(gid, ct);

    /// <summary>Stops receiving and sending, waits for every background task, closes every session and the store.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        // Completing the pool's events ends the receive loop; pending SMP calls fail with NETWORK.
        await _smp.DisposeAsync().ConfigureAwait(false);
        await _receiveLoop.ConfigureAwait(false);
        await _tasks.DrainAsync().ConfigureAwait(false);
        Events.CloseAll();
        _keys.Dispose();
        _metrics.Dispose();
        await Store.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _log.LogInformation("agent stopped");
    }
}
