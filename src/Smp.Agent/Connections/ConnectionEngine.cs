using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Smp.Agent.Events;
using Smp.Agent.Jobs;
using Smp.Agent.Runtime;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Connections;

/// <summary>
/// Duplex connections (agent.md §1–§4): the client commands NEW, JOIN, SUB, SUBALL, SEND, OFF, DEL, the
/// handshake's state changes, and the <see cref="IConnections"/> API the group layer builds on. The receive
/// path is <see cref="Receiver"/>; the network halves of the handshake are <see cref="ConnectionJobs"/>.
/// Every command validates first, so a refused command changes nothing.
/// </summary>
internal sealed class ConnectionEngine : IConnections
{
    private readonly AgentOptions _options;
    private readonly AgentStore _store;
    private readonly SmpClientPool _smp;
    private readonly KeyPool _keys;
    private readonly EventRouter _router;
    private readonly Outbox _outbox;
    private readonly BackgroundTasks _tasks;
    private readonly ILogger _log;
    private readonly CancellationToken _stopping;
    private IConnectionOwner? _owner;

    /// <summary>
    /// Receive queues whose subscription another client of the server took (END): SUB subscribes them again.
    /// In memory only: a restarted agent subscribes every queue anyway.
    /// </summary>
    private readonly ConcurrentDictionary<string, bool> _lostSubscriptions = new(StringComparer.Ordinal);

    public ConnectionEngine(AgentOptions options, AgentStore store, SmpClientPool smp, KeyPool keys, EventRouter router,
        Outbox outbox, BackgroundTasks tasks, ILogger log, CancellationToken stopping)
    {
        _options = options;
        _store = store;
        _smp = smp;
        _keys = keys;
        _router = router;
        _outbox = outbox;
        _tasks = tasks;
        _log = log;
        _stopping = stopping;
    }

    public SmpClientPool Smp => _smp;

    public KeyPool KeyPool => _keys;

    /// <summary>The layer above (groups); attached once, before the agent starts receiving.</summary>
    public void Attach(IConnectionOwner owner) => _owner = owner;

    private IConnectionOwner Owner => _owner ?? throw new InvalidOperationException("no layer attached above the connections");

    /// <summary>Subscribes every receive queue and restarts every connection's outbox.</summary>
    public async Task ResumeAsync()
    {
        var (queues, withJobs) = await _store.TransactAsync(tx =>
        {
            tx.PruneSeen(DateTime.UtcNow - _options.SeenIdRetention);
            return (tx.ListRcvQueues(), tx.AliasesWithJobs());
        }).ConfigureAwait(false);
        foreach (var q in queues) _tasks.Run("subscribing a queue", () => SubscribeQueueAsync(q));
        _outbox.KickAll(withJobs);
    }

    private async Task SubscribeQueueAsync(RcvQueueRecord q)
    {
        var server = SmpServerAddress.Parse(q.Server);
        try
        {
            using var key = RsaKeys.Private.Rent(q.RcvKey);
            await _smp.SubscribeAsync(server, q.RcvId, key.Key, _stopping).ConfigureAwait(false);
        }
        catch (SmpClientException e)
        {
            // A server that cannot be reached now is subscribed by the pool's reconnect loop when it can.
            _log.LogInformation("subscription to a queue on {Server} not made now: {Error}", server.Endpoint, e.Message);
        }
    }

    private bool AliasTaken(StoreTx tx, string alias) => tx.ConnectionExists(alias) || Owner.OwnsAlias(tx, alias);

    // --- client commands (agent.md §2.4) ---

    /// <summary>NEW: creates a receive queue and returns the invitation for the peer.</summary>
    public async Task<(string Alias, SmpQueueInfo Invitation)> NewAsync(ClientSession session, string alias, CancellationToken ct)
    {
        alias = alias.Length == 0 ? Keys.NewAlias() : alias;
        if (await _store.TransactAsync(tx => AliasTaken(tx, alias), ct).ConfigureAwait(false)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
        var queue = await Broker(() => MakeReceiveQueueAsync(alias, ct)).ConfigureAwait(false);
        await _store.TransactAsync(tx =>
        {
            if (AliasTaken(tx, alias)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
            AddInviting(tx, queue, ConnectionKind.Direct, "");
        }, ct).ConfigureAwait(false);
        _router.Hold(session, alias);
        return (alias, queue.Invitation);
    }

    /// <summary>
    /// JOIN: stores the send queue and queues confirmation, HELLO and (unless <paramref name="noReply"/>) the
    /// reply queue. No direct response: CON comes when the handshake completes, errors with this corrId.
    /// </summary>
    public async Task<string> JoinAsync(ClientSession session, string corrId, string alias, SmpQueueInfo invitation, bool noReply, CancellationToken ct)
    {
        alias = alias.Length == 0 ? Keys.NewAlias() : alias;
        if (!RsaPublicKey.TryParse(invitation.EncryptionKey, out var peerKey)) throw new AgentProtocolException(AgentErrorCode.CmdSyntax);
        using var encryptKey = peerKey!;
        var fx = await TransactAsync((tx, fx) =>
        {
            if (AliasTaken(tx, alias)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
            AddJoining(tx, alias, ConnectionKind.Direct, "", invitation, encryptKey, !noReply, corrId, fx);
        }, ct).ConfigureAwait(false);
        _router.Hold(session, alias);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
        return alias;
    }

    /// <summary>SUB; with <paramref name="dispatch"/> false the waiting events are left for the caller to dispatch after its OK.</summary>
    public async Task SubscribeAsync(ClientSession session, string alias, bool dispatch, CancellationToken ct)
    {
        var rcv = await _store.TransactAsync(tx =>
        {
            if (Owner.OwnsAlias(tx, alias)) return null;
            if (!tx.ConnectionExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            return tx.GetRcvQueue(alias) ?? throw new AgentProtocolException(AgentErrorCode.ConnSimplex);
        }, ct).ConfigureAwait(false);
        if (rcv is not null && _lostSubscriptions.TryRemove(alias, out _))
        {
            using var key = RsaKeys.Private.Rent(rcv.RcvKey);
            try
            {
                await Broker(() => _smp.SubscribeAsync(SmpServerAddress.Parse(rcv.Server), rcv.RcvId, key.Key, ct)).ConfigureAwait(false);
            }
            catch
            {
                _lostSubscriptions[alias] = true;
                throw;
            }
        }
        _router.Hold(session, alias, dispatch);
    }

    /// <summary>SUBALL: holds every direct connection and every alias of the layer above; returns them for one OK each.</summary>
    public async Task<List<string>> SubscribeAllAsync(ClientSession session, bool dispatch, CancellationToken ct)
    {
        var all = await _store.TransactAsync(tx =>
            tx.ListConnections(ConnectionKind.Direct).Select(c => c.Alias).Concat(Owner.Aliases(tx)).ToList(), ct).ConfigureAwait(false);
        foreach (var alias in all) _router.Hold(session, alias, dispatch);
        return all;
    }

    /// <summary>SEND: puts the message's plaintext into the outbox; SENT follows with this corrId when the server accepts it.</summary>
    public async Task<long> SendAsync(string corrId, string alias, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var envelope = new AgentEnvelope.Msg(body);
        if (!Envelopes.Fits(envelope)) throw new AgentProtocolException(AgentErrorCode.CmdLarge);
        var id = await _store.TransactAsync(tx =>
        {
            if (!tx.ConnectionExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            if (!tx.HasSndQueue(alias)) throw new AgentProtocolException(AgentErrorCode.ConnSimplex);
            var (internalId, plaintext) = Envelopes.NextPlaintext(tx, alias, envelope, clientMessage: true);
            tx.InsertJob(alias, JobKind.SendPlainMessage, plaintext, corrId, internalId);
            return internalId;
        }, ct).ConfigureAwait(false);
        _outbox.Kick(alias);
        return id;
    }

    /// <summary>OFF: suspends our receive queue; the peer's sends fail with AUTH from now on.</summary>
    public async Task SuspendAsync(string alias, CancellationToken ct)
    {
        var rcv = await _store.TransactAsync(tx =>
        {
            if (!tx.ConnectionExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            return tx.GetRcvQueue(alias) ?? throw new AgentProtocolException(AgentErrorCode.ConnSimplex);
        }, ct).ConfigureAwait(false);
        using var key = RsaKeys.Private.Rent(rcv.RcvKey);
        await Broker(() => _smp.SuspendAsync(SmpServerAddress.Parse(rcv.Server), rcv.RcvId, key.Key, ct)).ConfigureAwait(false);
        await _store.TransactAsync(tx => tx.UpdateRcvQueue(alias, QueueStatus.Disabled), ct).ConfigureAwait(false);
    }

    /// <summary>DEL: deletes our receive queue on its server and the connection here.</summary>
    public async Task DeleteAsync(string alias, CancellationToken ct)
    {
        var rcv = await _store.TransactAsync(tx =>
        {
            if (!tx.ConnectionExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            return tx.GetRcvQueue(alias);
        }, ct).ConfigureAwait(false);
        if (rcv is not null)
        {
            var server = SmpServerAddress.Parse(rcv.Server);
            using var key = RsaKeys.Private.Rent(rcv.RcvKey);
            try
            {
                await _smp.DeleteAsync(server, rcv.RcvId, key.Key, ct).ConfigureAwait(false);
            }
            catch (SmpClientException e) when (SmpErrorPolicy.Classify(SmpOperation.Delete, e.Error) == SmpFailure.AlreadyDone)
            {
                _smp.Unsubscribe(server, rcv.RcvId);
            }
            catch (SmpClientException e)
            {
                throw new AgentProtocolException(e.Error.ToAgentError());
            }
        }
        await _store.TransactAsync(tx => tx.DeleteConnection(alias), ct).ConfigureAwait(false);
        _router.Release(alias);
    }

    /// <summary>Runs an SMP call for a client command and turns its failure into the command's error (SMP e / BROKER e).</summary>
    private static async Task<T> Broker<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (SmpClientException e)
        {
            throw new AgentProtocolException(e.Error.ToAgentError());
        }
    }

    private static Task Broker(Func<Task> call) => Broker(async () =>
    {
        await call().ConfigureAwait(false);
        return true;
    });

    // --- the API for the layer above (IConnections) ---

    public async Task<NewReceiveQueue> MakeReceiveQueueAsync(string alias, CancellationToken ct)
    {
        var server = _options.Servers[RandomNumberGenerator.GetInt32(_options.Servers.Count)];
        // Claimed before NEW: the server sees the recipient key before our record of the queue is stored.
        var claimed = await _keys.ClaimAsync(_options.KeyBits, Envelopes.E2eKeyBits).ConfigureAwait(false);
        using var rcvKey = claimed[0];
        using var e2e = claimed[1];
        var (rid, sid) = await _smp.CreateQueueAsync(server, rcvKey.Key, ct).ConfigureAwait(false);
        var encryptKey = e2e.Key.ExportSubjectPublicKeyInfo();
        return new NewReceiveQueue(new SmpQueueInfo(server, sid, encryptKey),
            new RcvQueueRecord(alias, server.ToString(), rid, sid, rcvKey.Pkcs8, e2e.Pkcs8, encryptKey, null, null, QueueStatus.New));
    }

    public Task<Effects> TransactAsync(Action<StoreTx, Effects> work, CancellationToken ct) => _keys.TransactAsync((tx, keys) =>
    {
        var fx = new Effects { Keys = keys };
        work(tx, fx);
        return fx;
    }, ct);

    public void AddInviting(StoreTx tx, NewReceiveQueue queue, ConnectionKind kind, string owner)
    {
        tx.InsertConnection(new ConnectionRecord(queue.Alias, kind, ConnectionStatus.Pending, Owner: owner));
        tx.InsertRcvQueue(queue.Record);
    }

    public void AddJoining(StoreTx tx, string alias, ConnectionKind kind, string owner, SmpQueueInfo invitation, RsaPublicKey encryptKey, bool reply,
        string corrId, Effects fx)
    {
        tx.InsertConnection(new ConnectionRecord(alias, kind, ConnectionStatus.Joining, JoinCorrId: corrId, Owner: owner));
        AddSendQueue(tx, alias, invitation, encryptKey, corrId, fx);
        if (reply) tx.InsertJob(alias, JobKind.CreateReplyQueue, corrId: corrId);
        fx.Kick.Add(alias);
    }

    public bool Exists(StoreTx tx, string alias) => tx.ConnectionExists(alias);

    public bool IsDuplex(StoreTx tx, string alias) =>
        tx.GetConnection(alias)?.Status == ConnectionStatus.Active && tx.GetSndQueue(alias) is not null && tx.GetRcvQueue(alias) is not null;

    public bool Queue(StoreTx tx, string alias, AgentEnvelope envelope, Effects fx)
    {
        if (!tx.HasSndQueue(alias)) return false;
        var (_, plaintext) = Envelopes.NextPlaintext(tx, alias, envelope, clientMessage: false);
        tx.InsertJob(alias, JobKind.SendPlainMessage, plaintext);
        fx.Kick.Add(alias);
        return true;
    }

    public void Drop(StoreTx tx, string alias, bool abandonQueued, Effects fx)
    {
        if (alias.Length == 0 || !tx.ConnectionExists(alias)) return;
        if (abandonQueued) tx.DeleteJobs(alias);
        tx.InsertJob(alias, JobKind.DropConnection);
        fx.Kick.Add(alias);
    }

    // --- handshake state (agent.md §1) ---

    /// <summary>
    /// Stores a send queue with sealed confirmation and HELLO jobs (agent.md §1 step 3). Its two keys come
    /// from the pool in this transaction (<paramref name="fx"/> carries the lease), never generated here.
    /// </summary>
    internal void AddSendQueue(StoreTx tx, string alias, SmpQueueInfo invitation, RsaPublicKey encryptKey, string corrId, Effects fx)
    {
        var keys = fx.Keys ?? throw new InvalidOperationException("a send queue is added only in a transaction with a key lease");
        var sndKey = keys.Take(tx, _options.KeyBits);
        var signKey = keys.Take(tx, _options.KeyBits);
        var confirmation = Envelopes.SealConfirmation(encryptKey, signKey.Key, sndKey.Key.ExportSubjectPublicKeyInfo());
        var hello = Envelopes.SealUnchained(encryptKey, signKey.Key, new AgentEnvelope.Hello(signKey.Key.ExportSubjectPublicKeyInfo()));
        tx.InsertSndQueue(new SndQueueRecord(alias, invitation.Server.ToString(), invitation.SenderId, sndKey.Pkcs8,
            invitation.EncryptionKey, signKey.Pkcs8, QueueStatus.New));
        tx.InsertJob(alias, JobKind.SendConfirmation, confirmation, corrId);
        tx.InsertJob(alias, JobKind.SendHello, hello, corrId);
    }

    /// <summary>When both queues of a connection are active it is up: CON, once (agent.md §1 step 6); true when an event was stored.</summary>
    internal static bool CompleteIfDuplex(StoreTx tx, string alias)
    {
        var conn = tx.GetConnection(alias);
        var rcv = tx.GetRcvQueue(alias);
        var snd = tx.GetSndQueue(alias);
        if (conn is null || conn.Status == ConnectionStatus.Active || rcv?.Status != QueueStatus.Active || snd?.Status != QueueStatus.Active) return false;
        tx.SetConnectionStatus(alias, ConnectionStatus.Active);
        // An owned connection is internal: the envelopes on it say what its owner's client hears.
        if (conn.Kind != ConnectionKind.Direct) return false;
        tx.InsertEvent(alias, "", AgentWire.Con);
        return true;
    }

    internal void SubscriptionLost(string alias) => _lostSubscriptions[alias] = true;

    /// <summary>Direct connections with a queue on <paramref name="server"/>: the ones whose clients hear DOWN and UP.</summary>
    internal Task<List<string>> AliasesOnServerAsync(SmpServerAddress server) => _store.TransactAsync(tx =>
    {
        var name = server.ToString();
        return tx.ListConnections(ConnectionKind.Direct)
            .Where(c => tx.GetRcvQueue(c.Alias)?.Server == name || tx.GetSndQueue(c.Alias)?.Server == name)
            .Select(c => c.Alias).ToList();
    });

    internal IConnectionOwner UpperLayer => Owner;
}
