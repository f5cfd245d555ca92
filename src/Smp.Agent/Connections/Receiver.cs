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
/// The receive path (agent.md §4): one loop over the pool's events. Every server MSG is decrypted, checked
/// and applied in one transaction together with the events it causes, and only then ACKed. A message that
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
    private readonly ILogger _log;
    private readonly CancellationToken _stopping;

    public Receiver(ConnectionEngine engine, AgentStore store, EventRouter router, Outbox outbox, ILogger log, CancellationToken stopping)
    {
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
                _log.LogWarning("server {Server} reported {Error}", err.Server, err.ClientError);
                break;
        }
    }

    private async Task HandleMessageAsync(SmpClientEvent.Message m)
    {
        var rcv = await _store.TransactAsync(tx => tx.FindRcvQueue(m.Server.ToString(), m.RecipientId)).ConfigureAwait(false);
        if (rcv is null)
        {
            _log.LogInformation("message for an unknown queue on {Server} ignored", m.Server);
            return;
        }
        // Keys for a REPLY or G_MEM_INV come from the pool inside the transaction, never generated there.
        var fx = await _engine.TransactAsync((tx, fx) => Apply(tx, rcv.Alias, m, fx), _stopping).ConfigureAwait(false);
        fx.Dispatch.Add(rcv.Alias);
        await _outbox.RunEffectsAsync(fx).ConfigureAwait(false);
        await _acks.AckAsync(m.Server, m.RecipientId, m.MsgId, rcv.RcvKey).ConfigureAwait(false);
    }

    /// <summary>Applies one server message within the transaction; what to do after commit goes to <paramref name="fx"/>.</summary>
    internal void Apply(StoreTx tx, string alias, SmpClientEvent.Message m, Effects fx)
    {
        var rcv = tx.GetRcvQueue(alias);
        var conn = tx.GetConnection(alias);
        if (rcv is null || conn is null) return;
        // A redelivery (lost ACK, reconnect) changes nothing and says nothing.
        if (!tx.MarkSeen(alias, m.MsgId)) return;
        // Errors on an owned connection concern its owner (a group connection's go to the group).
        var errorAlias = conn.Owner.Length > 0 ? conn.Owner : alias;
        fx.Dispatch.Add(errorAlias);
        void Reject(AgentErrorCode error) => tx.InsertEvent(errorAlias, "", AgentWire.Err(error));

        // Parsed once: its size splits the body, then it checks the signature.
        using var verifyKey = rcv.VerifyKey is null ? null : RsaPublicKey.Parse(rcv.VerifyKey);
        if (!TryOpen(rcv, verifyKey, m.Body.Span, out var signature, out var encrypted, out var plaintext))
            { Reject(AgentErrorCode.AgentEncryption); return; }
        if (!AgentPlaintextCodec.TryDecode(plaintext, out var message)) { Reject(AgentErrorCode.AgentMessage); return; }
        if (verifyKey is not null && !verifyKey.Verify(encrypted, signature)) { Reject(AgentErrorCode.AgentSignature); return; }

        if (IsResent(tx, conn, rcv, message, plaintext)) return;

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

            case AgentPlaintext.Message { Envelope: AgentEnvelope.Msg msg } env:
            {
                if (rcv.Status != QueueStatus.Active || conn.Kind != ConnectionKind.Direct) { Reject(AgentErrorCode.AgentProhibited); return; }
                var integrity = MsgIntegrity.Check(conn.LastExtSndId, conn.LastRcvHash ?? [], env.SndMsgId, env.PrevMsgHash);
                var internalId = tx.RecordReceived(alias, env.SndMsgId, SHA256.HashData(plaintext));
                tx.InsertEvent(alias, "", AgentWire.Payload(new AgentCommand.Msg(integrity, internalId, DateTimeOffset.UtcNow, m.MsgId, m.Timestamp, env.SndMsgId, env.Timestamp, msg.Body)));
                return;
            }

            case AgentPlaintext.Message env:
                // Not ours (a group envelope): the layer above applies it.
                if (rcv.Status != QueueStatus.Active) { Reject(AgentErrorCode.AgentProhibited); return; }
                // Received is received, accepted or not: the chain moves on, so the next MSG is not reported as a gap.
                if (env.SndMsgId > 0) tx.RecordChain(alias, env.SndMsgId, SHA256.HashData(plaintext));
                if (!_engine.UpperLayer.Apply(tx, conn, env, fx)) Reject(AgentErrorCode.AgentProhibited);
                return;

            default:
                Reject(AgentErrorCode.AgentProhibited);
                return;
        }
    }

    /// <summary>
    /// True for an envelope the sender sent again because it never saw the server's OK (a lost response
    /// after a restart): the bytes are identical, so the copy is dropped without a word. A chained envelope
    /// repeats the last id and hash; an unchained one repeats what its state already holds.
    /// </summary>
    private static bool IsResent(StoreTx tx, ConnectionRecord conn, RcvQueueRecord rcv, AgentPlaintext message, byte[] plaintext) => message switch
    {
        AgentPlaintext.Message { SndMsgId: > 0 } m =>
            m.SndMsgId == conn.LastExtSndId && SHA256.HashData(plaintext).AsSpan().SequenceEqual(conn.LastRcvHash),
        AgentPlaintext.Confirmation c => rcv.Status != QueueStatus.New && rcv.SenderKey is not null && rcv.SenderKey.AsSpan().SequenceEqual(c.SenderKey),
        AgentPlaintext.Message { Envelope: AgentEnvelope.Hello h } =>
            rcv.Status == QueueStatus.Active && rcv.VerifyKey is not null && rcv.VerifyKey.AsSpan().SequenceEqual(h.VerifyKey),
        AgentPlaintext.Message { Envelope: AgentEnvelope.Reply r } =>
            tx.GetSndQueue(conn.Alias) is { } snd && snd.SndId.AsSpan().SequenceEqual(r.QueueInfo.SenderId),
        _ => false,
    };

    /// <summary>
    /// Splits and decrypts a body. Before HELLO we do not know the sender's signing key size, so the
    /// usual sizes are tried; the OAEP layer fails fast on a wrong split.
    /// </summary>
    private static bool TryOpen(RcvQueueRecord rcv, RsaPublicKey? verifyKey, ReadOnlySpan<byte> body, out byte[] signature, out byte[] encrypted, out byte[] plaintext)
    {
        using var key = Keys.ImportPrivate(rcv.DecryptKey);
        int[] sizes = verifyKey is null ? [256, 128, 512] : [verifyKey.ModulusBytes];
        foreach (var size in sizes)
        {
            if (!E2eEnvelope.TrySplit(body, size, out var sig, out var enc)) continue;
            if (E2eEnvelope.TryDecrypt(key, enc, out plaintext))
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
