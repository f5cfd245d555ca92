using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Smp.Agent.Events;
using Smp.Agent.Jobs;
using Smp.Agent.Runtime;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;

namespace Smp.Agent.Connections;

/// <summary>
/// The receive path (agent.md §4): one loop over the pool's events. Every server MSG is decrypted and its
/// signature checked first, outside any store transaction (the RSA would hold the store's one gate), then
/// applied in one transaction together with the events it causes, and only then ACKed. A message that
/// fails a check is reported (ERR AGENT ...), changes nothing and is still ACKed, so one bad envelope never
/// stalls its queue. Envelopes that are not the connection layer's own go to the layer above.
/// </summary>
internal sealed class Receiver
{
    private readonly ConnectionEngine _engine;
    private readonly AgentStore _store;
    private readonly EventRouter _router;
    private readonly Outbox _outbox;
    private readonly AckTracker _acks;
    private readonly AgentOptions _options;
    private readonly BackgroundTasks _tasks;
    private readonly AgentCounters _counters;
    private readonly ILogger _log;
    private readonly CancellationToken _stopping;

    public Receiver(ConnectionEngine engine, AgentStore store, EventRouter router, Outbox outbox, AgentOptions options, BackgroundTasks tasks,
        AgentCounters counters, ILogger log, CancellationToken stopping)
    {
        _options = options;
        _tasks = tasks;
        _counters = counters;
        _engine = engine;
        _store = store;
        _router = router;
        _outbox = outbox;
        _log = log;
        _stopping = stopping;
        _acks = new AckTracker(engine.Smp, log, stopping);
    }

    /// <summary>Reads the pool's events until the pool completes them (agent stopping); a failed event is logged and skipped.</summary>
    public async Task RunAsync()
    {
        await foreach (var ev in _engine.Smp.Events.ReadAllAsync(_stopping).ConfigureAwait(false))
        {
            try
            {
                await HandleAsync(ev).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
            {
                _log.LogError(e, "failed to handle a server event");
            }
        }
    }

    private async Task HandleAsync(SmpClientEvent ev)
    {
        switch (ev)
        {
            case SmpClientEvent.Message m:
                await HandleMessageAsync(m).ConfigureAwait(false);
                break;
            case SmpClientEvent.SubscriptionEnded e:
            {
                var rcv = await _store.TransactAsync(tx => tx.FindRcvQueue(e.Server.ToString(), e.RecipientId)).ConfigureAwait(false);
                if (rcv is null) break;
                _engine.SubscriptionLost(rcv.Alias);
                await _store.TransactAsync(tx => tx.InsertEvent(rcv.Alias, "", AgentWire.End)).ConfigureAwait(false);
                await _router.DispatchAsync(rcv.Alias).ConfigureAwait(false);
                break;
            }
            case SmpClientEvent.ServerDown d:
                foreach (var alias in await _engine.AliasesOnServerAsync(d.Server).ConfigureAwait(false)) _router.NotifyLive(alias, AgentWire.Down(d.Server));
                break;
            case SmpClientEvent.ServerUp u:
                // ACKs first: a job runner woken now might otherwise race a redelivery.
                await _acks.RetryPendingAsync(u.Server).ConfigureAwait(false);
                foreach (var alias in await _engine.AliasesOnServerAsync(u.Server).ConfigureAwait(false)) _router.NotifyLive(alias, AgentWire.Up(u.Server));
                _outbox.KickAll(await _store.TransactAsync(tx => tx.AliasesWithJobs()).ConfigureAwait(false));
                break;
            case SmpClientEvent.Error err:
                _log.LogWarning("server {Server} reported {Error}", err.Server.Endpoint, err.ClientError);
                break;
        }
    }

    private async Task HandleMessageAsync(SmpClientEvent.Message m)
    {
        var rcv = await _store.TransactAsync(tx => tx.FindRcvQueue(m.Server.ToString(), m.RecipientId)).ConfigureAwait(false);
        if (rcv is null)
        {
            _log.LogInformation("message for an unknown queue on {Server} ignored", m.Server.Endpoint);
            return;
        }
        // The ACK is signed meanwhile; it is sent only after the commit.
        var ack = _acks.PrepareAsync(m.Server, m.RecipientId, rcv.RcvKey);
        // Opened with the keys read just now: only this loop changes them (HELLO), and Apply checks anyway.
        Effects fx;
        try
        {
            var opened = Opened.Open(rcv, m.Body.Span);
            // Keys for a REPLY or G_MEM_INV come from the pool inside the transaction, never generated there.
            fx = await _engine.TransactAsync((tx, fx) => Apply(tx, rcv.Alias, m, opened, fx), _stopping).ConfigureAwait(false);
        }
        catch
        {
            // Not applied, so not ACKed: the server delivers the message again.
            AckTracker.Discard(ack);
            throw;
        }
        if (fx.Rejected is { } rejected)
        {
            _counters.CountHostile(rejected);
            // The server and the kind only: the queue, its keys and the body stay out of the log.
            _log.LogWarning("a message received on {Server} was rejected ({Kind}) and dropped; the connection goes on", m.Server.Endpoint,
                AgentMetrics.KindName(rejected));
        }
        else if (fx.Received)
        {
            _counters.CountReceived();
        }
        fx.Dispatch.Add(rcv.Alias);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
        await _acks.AckAsync(m.Server, m.RecipientId, m.MsgId, rcv.RcvKey, ack).ConfigureAwait(false);
        foreach (var alias in fx.Held) ScheduleRelease(alias, _options.ReorderHoldLimit);
    }

    /// <summary>At start: envelopes held before the agent stopped are released when their hold limit ends, as if it had run on.</summary>
    public async Task ResumeHeldAsync()
    {
        var held = await _store.TransactAsync(tx => tx.OldestHeldByAlias()).ConfigureAwait(false);
        foreach (var (alias, since) in held) ScheduleRelease(alias, since + _options.ReorderHoldLimit - DateTime.UtcNow);
    }

    private void ScheduleRelease(string alias, TimeSpan delay) => _tasks.Run("releasing held envelopes", async () =>
    {
        // Each round ends with nothing held or with the oldest still held not yet due (held since the timer started).
        while (true)
        {
            if (delay > TimeSpan.Zero) await Task.Delay(delay, _stopping).ConfigureAwait(false);
            delay = await ReleaseExpiredAsync(alias).ConfigureAwait(false);
            if (delay < TimeSpan.Zero) return;
        }
    });

    /// <summary>Applies one server message within the transaction; what to do after commit goes to <paramref name="fx"/>.</summary>
    internal void Apply(StoreTx tx, string alias, SmpClientEvent.Message m, Opened opened, Effects fx)
    {
        var rcv = tx.GetRcvQueue(alias);
        var conn = tx.GetConnection(alias);
        if (rcv is null || conn is null) return;
        // A redelivery (lost ACK, reconnect) changes nothing and says nothing.
        if (!tx.MarkSeen(alias, m.MsgId)) return;
        // Errors on an owned connection concern its owner (a group connection's go to the group).
        var errorAlias = conn.Owner.Length > 0 ? conn.Owner : alias;
        fx.Dispatch.Add(errorAlias);
        void Reject(AgentErrorCode error)
        {
            tx.InsertEvent(errorAlias, "", AgentWire.Err(error));
            fx.Rejected = error;
        }

        if (!opened.OpenedWith(rcv)) opened = Opened.Open(rcv, m.Body.Span);
        if (opened.Plaintext is null) { Reject(AgentErrorCode.AgentEncryption); return; }
        if (opened.Message is not { } message) { Reject(AgentErrorCode.AgentMessage); return; }
        if (!opened.SignatureValid) { Reject(AgentErrorCode.AgentSignature); return; }
        var (signature, encrypted, hash) = (opened.Signature, opened.Encrypted, opened.Hash);

        if (IsResent(tx, conn, rcv, message, hash)) return;
        fx.Received = true;

        switch (message)
        {
            case AgentPlaintext.Confirmation c:
                if (rcv.Status != QueueStatus.New) { Reject(AgentErrorCode.AgentProhibited); return; }
                tx.UpdateRcvQueue(alias, QueueStatus.Confirmed, senderKey: c.SenderKey);
                tx.InsertJob(alias, JobKind.SecureQueue);
                fx.Kick.Add(alias);
                return;

            case AgentPlaintext.Message { Envelope: AgentEnvelope.Hello h }:
                if (rcv.Status is not (QueueStatus.Confirmed or QueueStatus.Secured)) { Reject(AgentErrorCode.AgentProhibited); return; }
                if (!RsaPublicKey.TryParse(h.VerifyKey, out var helloKey)) { Reject(AgentErrorCode.AgentMessage); return; }
                using (helloKey)
                {
                    if (!helloKey!.Verify(encrypted, signature)) { Reject(AgentErrorCode.AgentSignature); return; }
                }
                tx.UpdateRcvQueue(alias, QueueStatus.Active, verifyKey: h.VerifyKey);
                ConnectionEngine.CompleteIfDuplex(tx, alias);
                return;

            case AgentPlaintext.Message { Envelope: AgentEnvelope.Reply r }:
                if (rcv.Status != QueueStatus.Active || tx.GetSndQueue(alias) is not null) { Reject(AgentErrorCode.AgentProhibited); return; }
                if (!RsaPublicKey.TryParse(r.QueueInfo.EncryptionKey, out var peerKey)) { Reject(AgentErrorCode.AgentMessage); return; }
                using (peerKey)
                    _engine.AddSendQueue(tx, alias, r.QueueInfo, peerKey!, "", fx);
                fx.Kick.Add(alias);
                return;

            case AgentPlaintext.Message env:
                if (rcv.Status != QueueStatus.Active) { Reject(AgentErrorCode.AgentProhibited); return; }
                // Ahead of the chain: an earlier envelope of the sender's window was refused (QUOTA) and comes
                // again after this one. Or next, but the layer above waits for something before it (a forward).
                // Held, so the client gets them in order; ACKed all the same.
                if (env.SndMsgId > conn.LastExtSndId + 1 || Waits(tx, conn, env, fx))
                {
                    if (tx.HoldAhead(alias, new HeldEnvelope(env.SndMsgId, hash, m.MsgId, m.Timestamp, opened.Plaintext!), conn.LastExtSndId, _options.ReorderHoldLimit))
                    {
                        fx.Held.Add(alias);
                        // What the held ones before it wait for may be this one: the layer above takes it now.
                        if (conn.Owner.Length > 0 && _engine.UpperLayer.TakesEarly(tx, conn, env, fx)) ResumeWaiting(tx, fx);
                        return;
                    }
                    // Held too long or too much: that gap is real (the sender gave up on a message); what is held goes first.
                    ReleaseHeld(tx, alias, all: true, fx);
                    conn = tx.GetConnection(alias)!;
                }
                ApplyChained(tx, rcv, conn, env, hash, m.MsgId, m.Timestamp, fx);
                ReleaseHeld(tx, alias, all: false, fx);
                ResumeWaiting(tx, fx);
                return;

            default:
                Reject(AgentErrorCode.AgentProhibited);
                return;
        }
    }

    /// <summary>A chained envelope in its place: a client's MSG, or one for the layer above (a group envelope).</summary>
    private void ApplyChained(StoreTx tx, RcvQueueRecord rcv, ConnectionRecord conn, AgentPlaintext.Message env, byte[] hash, byte[] brokerId,
        DateTimeOffset brokerTs, Effects fx)
    {
        var alias = conn.Alias;
        var errorAlias = conn.Owner.Length > 0 ? conn.Owner : alias;
        fx.Dispatch.Add(errorAlias);
        if (env.Envelope is AgentEnvelope.Msg msg)
        {
            if (conn.Kind != ConnectionKind.Direct) { tx.InsertEvent(errorAlias, "", AgentWire.Err(AgentErrorCode.AgentProhibited)); return; }
            var integrity = MsgIntegrity.Check(conn.LastExtSndId, conn.LastRcvHash ?? [], env.SndMsgId, env.PrevMsgHash);
            var internalId = tx.RecordReceived(alias, env.SndMsgId, hash);
            tx.InsertEvent(alias, "", AgentWire.Payload(new AgentCommand.Msg(integrity, internalId, DateTimeOffset.UtcNow, brokerId, brokerTs, env.SndMsgId, env.Timestamp, msg.Body)));
            return;
        }
        // Not ours (a group envelope): the layer above applies it. Received is received, accepted or not: the
        // chain moves on, so the next MSG is not reported as a gap.
        if (env.SndMsgId > 0) tx.RecordChain(alias, env.SndMsgId, hash);
        if (_engine.UpperLayer.Apply(tx, conn, env, fx)) return;
        // The client hears only A_PROHIBITED; the operator can tell which envelope it was.
        _log.LogWarning("{Envelope} received on {Alias} refused as out of place", env.Envelope.GetType().Name, alias);
        tx.InsertEvent(errorAlias, "", AgentWire.Err(AgentErrorCode.AgentProhibited));
    }

    /// <summary>
    /// Applies held envelopes that are next in the chain now, or with <paramref name="all"/> every held one in
    /// order (their gaps are then reported by the MSG integrity, as without holding).
    /// </summary>
    private void ReleaseHeld(StoreTx tx, string alias, bool all, Effects fx)
    {
        while (true)
        {
            var conn = tx.GetConnection(alias);
            var rcv = tx.GetRcvQueue(alias);
            if (conn is null || rcv is null) return;
            var held = tx.PeekHeld(alias, all ? null : conn.LastExtSndId + 1);
            if (held is null) return;
            // Decoded and checked when it arrived.
            var env = AgentPlaintextCodec.TryDecode(held.Plaintext, out var message) ? message as AgentPlaintext.Message : null;
            // Next in the chain, but what the layer above waits for has not come: it stays, and so does what follows.
            if (!all && env is not null && Waits(tx, conn, env, fx)) return;
            tx.DeleteHeld(alias, held.SndId);
            if (env is not null) ApplyChained(tx, rcv, conn, env, held.Hash, held.BrokerId, held.BrokerTs, fx);
        }
    }

    /// <summary>The layer above's call (a client's MSG never waits): whether the next envelope waits for something before it.</summary>
    private bool Waits(StoreTx tx, ConnectionRecord conn, AgentPlaintext.Message env, Effects fx) =>
        env.Envelope is not AgentEnvelope.Msg && conn.Owner.Length > 0 && _engine.UpperLayer.Waits(tx, conn, env, fx);

    /// <summary>Connections the layer above stopped waiting on (<see cref="Effects.Resume"/>): what is next there goes on now.</summary>
    private void ResumeWaiting(StoreTx tx, Effects fx)
    {
        while (fx.Resume.Count > 0)
        {
            var alias = fx.Resume.First();
            fx.Resume.Remove(alias);
            ReleaseHeld(tx, alias, all: false, fx);
        }
    }

    /// <summary>
    /// After the hold limit: envelopes still held for a connection go to the client in order, gaps reported.
    /// Returns how long the oldest one still held has left to wait, or a negative span when none is left.
    /// </summary>
    private async Task<TimeSpan> ReleaseExpiredAsync(string alias)
    {
        var fx = new Effects();
        var left = await _store.TransactAsync(tx =>
        {
            if (tx.OldestHeld(alias) is not { } since) return TimeSpan.FromTicks(-1);
            var wait = since + _options.ReorderHoldLimit - DateTime.UtcNow;
            if (wait > TimeSpan.Zero) return wait;
            ReleaseHeld(tx, alias, all: true, fx);
            ResumeWaiting(tx, fx);
            return TimeSpan.FromTicks(-1);
        }).ConfigureAwait(false);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
        return left;
    }

    /// <summary>
    /// True for an envelope the sender sent again because it never saw the server's OK (a lost response or
    /// connection, a restart; a whole window of them): the plaintext is identical, so the copy is dropped
    /// without a word. A chained envelope repeats an id and hash the chain holds (the last one, or one of the
    /// recent ones in rcv_chain); an unchained one repeats what its state already holds.
    /// </summary>
    private static bool IsResent(StoreTx tx, ConnectionRecord conn, RcvQueueRecord rcv, AgentPlaintext message, byte[] hash) => message switch
    {
        AgentPlaintext.Message { SndMsgId: > 0 } m =>
            (m.SndMsgId == conn.LastExtSndId && hash.AsSpan().SequenceEqual(conn.LastRcvHash)) || tx.ChainHolds(conn.Alias, m.SndMsgId, hash)
            || tx.IsHeld(conn.Alias, m.SndMsgId, hash),
        AgentPlaintext.Confirmation c => rcv.Status != QueueStatus.New && rcv.SenderKey is not null && rcv.SenderKey.AsSpan().SequenceEqual(c.SenderKey),
        AgentPlaintext.Message { Envelope: AgentEnvelope.Hello h } =>
            rcv.Status == QueueStatus.Active && rcv.VerifyKey is not null && rcv.VerifyKey.AsSpan().SequenceEqual(h.VerifyKey),
        AgentPlaintext.Message { Envelope: AgentEnvelope.Reply r } =>
            tx.GetSndQueue(conn.Alias) is { } snd && snd.SndId.AsSpan().SequenceEqual(r.QueueInfo.SenderId),
        _ => false,
    };
}

/// <summary>
/// A server message opened before its transaction: decrypted, decoded and, when the sender's key is known,
/// its signature checked. Null <see cref="Plaintext"/>: it did not decrypt; null <see cref="Message"/>: it
/// did not decode.
/// </summary>
internal sealed record Opened(byte[]? VerifyKey, byte[] Signature, byte[] Encrypted, byte[]? Plaintext, AgentPlaintext? Message, bool SignatureValid, byte[] Hash)
{
    /// <summary>Whether this was opened with the keys <paramref name="rcv"/> holds now.</summary>
    public bool OpenedWith(RcvQueueRecord rcv) => rcv.VerifyKey is null ? VerifyKey is null : rcv.VerifyKey.AsSpan().SequenceEqual(VerifyKey);

    public static Opened Open(RcvQueueRecord rcv, ReadOnlySpan<byte> body)
    {
        // Parsed once: its size splits the body, then it checks the signature.
        using var verifyKey = rcv.VerifyKey is null ? null : RsaKeys.Public.Rent(rcv.VerifyKey);
        if (!TryOpen(rcv, verifyKey?.Key, body, out var signature, out var encrypted, out var plaintext))
            return new Opened(rcv.VerifyKey, [], [], null, null, false, []);
        if (!AgentPlaintextCodec.TryDecode(plaintext, out var message))
            return new Opened(rcv.VerifyKey, signature, encrypted, plaintext, null, false, []);
        var valid = verifyKey is null || verifyKey.Key.Verify(encrypted, signature);
        return new Opened(rcv.VerifyKey, signature, encrypted, plaintext, message, valid, SHA256.HashData(plaintext));
    }

    /// <summary>
    /// Splits and decrypts a body. Before HELLO we do not know the sender's signing key size, so the
    /// usual sizes are tried; the OAEP layer fails fast on a wrong split.
    /// </summary>
    private static bool TryOpen(RcvQueueRecord rcv, RsaPublicKey? verifyKey, ReadOnlySpan<byte> body, out byte[] signature, out byte[] encrypted, out byte[] plaintext)
    {
        using var key = RsaKeys.Private.Rent(rcv.DecryptKey);
        int[] sizes = verifyKey is null ? [256, 128, 512] : [verifyKey.ModulusBytes];
        foreach (var size in sizes)
        {
            if (!E2eEnvelope.TrySplit(body, size, out var sig, out var enc)) continue;
            if (E2eEnvelope.TryDecrypt(key.Key, enc, out plaintext))
            {
                signature = sig.ToArray();
                encrypted = enc.ToArray();
                return true;
            }
        }
        signature = encrypted = plaintext = [];
        return false;
    }
}
