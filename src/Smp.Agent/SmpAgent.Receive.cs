using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Agent;

// Receiving (agent.md §1, §2): every server MSG is decrypted, checked and applied in one transaction
// together with the events it causes, and only then ACKed on the server. A message that fails any check
// is reported (ERR AGENT ...), changes nothing and is still ACKed, so one bad envelope never stalls the
// queue as it did in the reference.
public sealed partial class SmpAgent
{
    private readonly ConcurrentDictionary<string, bool> _lostSubscriptions = new(StringComparer.Ordinal);

    /// <summary>Per queue, the server message id last ACKed (SMP 0.3's ACK names no message).</summary>
    private readonly ConcurrentDictionary<string, byte[]> _lastAcked = new(StringComparer.Ordinal);

    /// <summary>
    /// Messages handled whose ACK could not be sent because the server connection was down or being
    /// re-established (a re-subscription delivers before the pool reports the server up). They are ACKed
    /// when the server is up again, unless a redelivery got ACKed first.
    /// </summary>
    private readonly ConcurrentDictionary<string, (SmpServerAddress Server, byte[] RecipientId, byte[] MsgId, byte[] Key)> _pendingAcks = new(StringComparer.Ordinal);

    private async Task ReceiveLoopAsync()
    {
        try
        {
            await foreach (var ev in _smp.Events.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                try
                {
                    await HandleSmpEventAsync(ev).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
                {
                    _log.LogError(e, "failed to handle a server event");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task HandleSmpEventAsync(SmpClientEvent ev)
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
                _lostSubscriptions[rcv.Alias] = true;
                await _store.TransactAsync(tx => tx.InsertEvent(rcv.Alias, "", AgentWire.End)).ConfigureAwait(false);
                await DispatchAsync(rcv.Alias).ConfigureAwait(false);
                break;
            }
            case SmpClientEvent.ServerDown d:
                foreach (var alias in await AliasesOnServerAsync(d.Server).ConfigureAwait(false)) NotifyLive(alias, AgentWire.Down(d.Server));
                break;
            case SmpClientEvent.ServerUp u:
                await RetryPendingAcksAsync(u.Server).ConfigureAwait(false);
                foreach (var alias in await AliasesOnServerAsync(u.Server).ConfigureAwait(false)) NotifyLive(alias, AgentWire.Up(u.Server));
                foreach (var alias in await _store.TransactAsync(tx => tx.AliasesWithJobs()).ConfigureAwait(false)) KickJobs(alias);
                break;
            case SmpClientEvent.Error err:
                _log.LogWarning("server {Server} reported {Error}", err.Server, err.ClientError);
                break;
        }
    }

    private Task<List<string>> AliasesOnServerAsync(SmpServerAddress server) => _store.TransactAsync(tx =>
    {
        var name = server.ToString();
        return tx.ListConnections(ConnectionKind.Direct)
            .Where(c => tx.GetRcvQueue(c.Alias)?.Server == name || tx.GetSndQueue(c.Alias)?.Server == name)
            .Select(c => c.Alias).ToList();
    });

    private async Task HandleMessageAsync(SmpClientEvent.Message m)
    {
        var rcv = await _store.TransactAsync(tx => tx.FindRcvQueue(m.Server.ToString(), m.RecipientId)).ConfigureAwait(false);
        if (rcv is null)
        {
            _log.LogInformation("message for an unknown queue on {Server} ignored", m.Server);
            return;
        }
        var fx = new Effects();
        await _store.TransactAsync(tx => Apply(tx, rcv.Alias, m, fx)).ConfigureAwait(false);
        fx.Dispatch.Add(rcv.Alias);
        await RunEffectsAsync(fx).ConfigureAwait(false);
        await AckAsync(m.Server, m.RecipientId, m.MsgId, rcv.RcvKey).ConfigureAwait(false);
    }

    private async Task AckAsync(SmpServerAddress server, byte[] recipientId, byte[] msgId, byte[] rcvKey)
    {
        // A message redelivered after a reconnect may reach us twice; the first ACK already removed it
        // and a second would remove the message the server delivered next, unseen.
        var queueKey = server + "/" + Convert.ToBase64String(recipientId);
        if (_lastAcked.TryGetValue(queueKey, out var acked) && acked.AsSpan().SequenceEqual(msgId)) return;
        using var key = ImportPrivate(rcvKey);
        try
        {
            await _smp.AckAsync(server, recipientId, key, _stop.Token).ConfigureAwait(false);
            _lastAcked[queueKey] = msgId;
            _pendingAcks.TryRemove(queueKey, out _);
        }
        catch (SmpClientException e) when (e.Error.Kind is SmpClientErrorKind.Network or SmpClientErrorKind.Timeout)
        {
            _pendingAcks[queueKey] = (server, recipientId, msgId, rcvKey);
            _log.LogInformation("ACK on {Server} postponed: {Error}", server, e.Error);
        }
        catch (SmpClientException e)
        {
            // NO_MSG: nothing is delivered on this connection (a re-subscription will deliver it again).
            _log.LogInformation("ACK on {Server} failed: {Error}", server, e.Error);
        }
    }

    private async Task RetryPendingAcksAsync(SmpServerAddress server)
    {
        foreach (var (queueKey, pending) in _pendingAcks.ToArray())
        {
            if (!pending.Server.Equals(server) || !_pendingAcks.TryRemove(queueKey, out _)) continue;
            await AckAsync(pending.Server, pending.RecipientId, pending.MsgId, pending.Key).ConfigureAwait(false);
        }
    }

    /// <summary>Does what a committed transaction asked for.</summary>
    internal async Task RunEffectsAsync(Effects fx)
    {
        foreach (var (alias, group) in fx.Inherit)
        {
            if (HolderOf(group) is { } holder) Hold(holder, alias);
        }
        foreach (var alias in fx.Dispatch) await DispatchAsync(alias).ConfigureAwait(false);
        foreach (var alias in fx.Kick) KickJobs(alias);
    }

    /// <summary>Applies one server message within the transaction; what to do after commit goes to <paramref name="fx"/>.</summary>
    private void Apply(StoreTx tx, string alias, SmpClientEvent.Message m, Effects fx)
    {
        var rcv = tx.GetRcvQueue(alias);
        var conn = tx.GetConnection(alias);
        if (rcv is null || conn is null) return;
        if (!tx.MarkSeen(alias, m.MsgId)) return;
        // Errors on a group connection concern the group: they go to its alias.
        var errorAlias = conn.Kind == ConnectionKind.Group ? conn.Owner : alias;
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
                CompleteIfDuplex(tx, alias);
                return;

            case AgentPlaintext.Message { Envelope: AgentEnvelope.Reply r }:
                if (rcv.Status != QueueStatus.Active || tx.GetSndQueue(alias) is not null) { Reject(AgentErrorCode.AgentProhibited); return; }
                if (!RsaPublicKey.TryParse(r.QueueInfo.EncryptionKey, out var peerKey)) { Reject(AgentErrorCode.AgentMessage); return; }
                using (peerKey)
                {
                    using var sndKey = _keys.Take();
                    using var signKey = _keys.Take();
                    AddSendQueue(tx, alias, r.QueueInfo, peerKey!, sndKey, signKey, "");
                }
                fx.Kick.Add(alias);
                return;

            case AgentPlaintext.Message { Envelope: var e } env when e.IsGroupEnvelope:
                if (rcv.Status != QueueStatus.Active) { Reject(AgentErrorCode.AgentProhibited); return; }
                // Received is received, accepted or not: the chain moves on, so the next MSG is not reported as a gap.
                if (env.SndMsgId > 0) tx.RecordChain(alias, env.SndMsgId, SHA256.HashData(plaintext));
                if (!ApplyGroupEnvelope(tx, conn, env, fx)) Reject(AgentErrorCode.AgentProhibited);
                return;

            case AgentPlaintext.Message { Envelope: AgentEnvelope.Msg msg } env:
            {
                if (rcv.Status != QueueStatus.Active || conn.Kind != ConnectionKind.Direct) { Reject(AgentErrorCode.AgentProhibited); return; }
                var integrity = MsgIntegrity.Check(conn.LastExtSndId, conn.LastRcvHash ?? [], env.SndMsgId, env.PrevMsgHash);
                var internalId = tx.RecordReceived(alias, env.SndMsgId, SHA256.HashData(plaintext));
                tx.InsertEvent(alias, "", AgentWire.Payload(new AgentCommand.Msg(integrity, internalId, DateTimeOffset.UtcNow, m.MsgId, m.Timestamp, env.SndMsgId, env.Timestamp, msg.Body)));
                return;
            }

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
        using var key = ImportPrivate(rcv.DecryptKey);
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
