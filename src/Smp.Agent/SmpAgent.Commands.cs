using System.Security.Cryptography;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Agent;

// Client commands (agent.md §3). Each validates first, so a refused command changes nothing.
public sealed partial class SmpAgent
{
    /// <summary>NEW: creates a receive queue and returns the invitation for the peer.</summary>
    public async Task<(string Alias, SmpQueueInfo Invitation)> NewAsync(ClientSession session, string alias, CancellationToken ct = default)
    {
        alias = alias.Length == 0 ? NewAlias() : alias;
        if (await _store.TransactAsync(tx => tx.ConnectionExists(alias) || tx.GroupExists(alias), ct).ConfigureAwait(false)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
        var (invitation, record) = await Broker(() => CreateReceiveQueueAsync(alias, ct)).ConfigureAwait(false);
        await _store.TransactAsync(tx =>
        {
            if (tx.ConnectionExists(alias) || tx.GroupExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
            tx.InsertConnection(new ConnectionRecord(alias, ConnectionKind.Direct, ConnectionStatus.Pending));
            tx.InsertRcvQueue(record);
        }, ct).ConfigureAwait(false);
        Hold(session, alias);
        return (alias, invitation);
    }

    /// <summary>
    /// JOIN: stores the send queue and queues confirmation, HELLO and (unless <paramref name="noReply"/>) the
    /// reply queue. No direct response: CON comes when the handshake completes, errors with this corrId.
    /// </summary>
    public async Task<string> JoinAsync(ClientSession session, string corrId, string alias, SmpQueueInfo invitation, bool noReply, CancellationToken ct = default)
    {
        alias = alias.Length == 0 ? NewAlias() : alias;
        if (!RsaPublicKey.TryParse(invitation.EncryptionKey, out var peerKey)) throw new AgentProtocolException(AgentErrorCode.CmdSyntax);
        using var encryptKey = peerKey!;
        using var sndKey = _keys.Take();
        using var signKey = _keys.Take();
        await _store.TransactAsync(tx =>
        {
            if (tx.ConnectionExists(alias) || tx.GroupExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnDuplicate);
            tx.InsertConnection(new ConnectionRecord(alias, ConnectionKind.Direct, ConnectionStatus.Joining, JoinCorrId: corrId));
            AddSendQueue(tx, alias, invitation, encryptKey, sndKey, signKey, corrId);
            if (!noReply) tx.InsertJob(alias, JobKind.CreateReplyQueue, corrId: corrId);
        }, ct).ConfigureAwait(false);
        Hold(session, alias);
        KickJobs(alias);
        return alias;
    }

    /// <summary>Stores a send queue with sealed confirmation and HELLO jobs (agent.md §1 step 3).</summary>
    private static void AddSendQueue(StoreTx tx, string alias, SmpQueueInfo invitation, RsaPublicKey encryptKey, RSA sndKey, RSA signKey, string corrId)
    {
        var confirmation = E2eEnvelope.Seal(encryptKey, signKey, AgentWire.Confirmation(sndKey.ExportSubjectPublicKeyInfo()), PaddedSize);
        var hello = E2eEnvelope.Seal(encryptKey, signKey, AgentWire.Unchained(new AgentEnvelope.Hello(signKey.ExportSubjectPublicKeyInfo())), PaddedSize);
        tx.InsertSndQueue(new SndQueueRecord(alias, invitation.Server.ToString(), invitation.SenderId, sndKey.ExportPkcs8PrivateKey(),
            invitation.EncryptionKey, signKey.ExportPkcs8PrivateKey(), QueueStatus.New));
        tx.InsertJob(alias, JobKind.SendConfirmation, confirmation, corrId);
        tx.InsertJob(alias, JobKind.SendHello, hello, corrId);
    }

    /// <summary>SUB: this client becomes the holder of a connection or group; the previous one gets END.</summary>
    public Task SubscribeAsync(ClientSession session, string alias, CancellationToken ct = default) => SubscribeAsync(session, alias, true, ct);

    /// <summary>SUB; with <paramref name="dispatch"/> false the waiting events are left for the caller to dispatch after its OK.</summary>
    internal async Task SubscribeAsync(ClientSession session, string alias, bool dispatch, CancellationToken ct)
    {
        var rcv = await _store.TransactAsync(tx =>
        {
            if (tx.GroupExists(alias)) return null;
            if (!tx.ConnectionExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            return tx.GetRcvQueue(alias) ?? throw new AgentProtocolException(AgentErrorCode.ConnSimplex);
        }, ct).ConfigureAwait(false);
        if (rcv is not null && _lostSubscriptions.TryRemove(alias, out _))
        {
            using var key = ImportPrivate(rcv.RcvKey);
            try
            {
                await Broker(() => _smp.SubscribeAsync(SmpServerAddress.Parse(rcv.Server), rcv.RcvId, key, ct)).ConfigureAwait(false);
            }
            catch
            {
                _lostSubscriptions[alias] = true;
                throw;
            }
        }
        Hold(session, alias, dispatch);
    }

    /// <summary>SUBALL: holds every direct connection and group; returns their aliases for one OK each.</summary>
    public Task<List<string>> SubscribeAllAsync(ClientSession session, CancellationToken ct = default) => SubscribeAllAsync(session, true, ct);

    internal async Task<List<string>> SubscribeAllAsync(ClientSession session, bool dispatch, CancellationToken ct)
    {
        var all = await _store.TransactAsync(tx =>
            tx.ListConnections(ConnectionKind.Direct).Select(c => c.Alias).Concat(tx.ListGroups().Select(g => g.Alias)).ToList(), ct).ConfigureAwait(false);
        foreach (var alias in all) Hold(session, alias, dispatch);
        return all;
    }

    /// <summary>SEND: seals the message into the outbox; SENT follows with this corrId when the server accepts it.</summary>
    public async Task<long> SendAsync(string corrId, string alias, ReadOnlyMemory<byte> body, CancellationToken ct = default)
    {
        var envelope = new AgentEnvelope.Msg(body);
        if (!Fits(envelope)) throw new AgentProtocolException(AgentErrorCode.CmdLarge);
        var id = await _store.TransactAsync(tx =>
        {
            if (!tx.ConnectionExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            var snd = tx.GetSndQueue(alias) ?? throw new AgentProtocolException(AgentErrorCode.ConnSimplex);
            var (internalId, sealedBody) = SealNext(tx, alias, snd, envelope, clientMessage: true);
            tx.InsertJob(alias, JobKind.SendMessage, sealedBody, corrId, internalId);
            return internalId;
        }, ct).ConfigureAwait(false);
        KickJobs(alias);
        return id;
    }

    /// <summary>Takes the connection's next chain position and seals the envelope with it.</summary>
    private static (long InternalId, byte[] Body) SealNext(StoreTx tx, string alias, SndQueueRecord snd, AgentEnvelope envelope, bool clientMessage = false)
    {
        var (internalId, sndId, prevHash) = tx.NextSndIds(alias, clientMessage);
        var plaintext = AgentPlaintextCodec.Encode(new AgentPlaintext.Message(sndId, DateTimeOffset.UtcNow, prevHash, envelope));
        tx.SetLastSndHash(alias, SHA256.HashData(plaintext));
        using var encryptKey = RsaPublicKey.Parse(snd.EncryptKey);
        using var signKey = ImportPrivate(snd.SignKey);
        return (internalId, E2eEnvelope.Seal(encryptKey, signKey, plaintext, PaddedSize));
    }

    /// <summary>Queues an envelope of the agent's own (no SENT follows); false when the connection has no send queue.</summary>
    private static bool QueueEnvelope(StoreTx tx, string alias, AgentEnvelope envelope)
    {
        var snd = tx.GetSndQueue(alias);
        if (snd is null) return false;
        var (_, body) = SealNext(tx, alias, snd, envelope);
        tx.InsertJob(alias, JobKind.SendMessage, body);
        return true;
    }

    /// <summary>
    /// Whether an envelope fits the padded size with the largest header (19-digit id, full hash); the
    /// reference refuses a plaintext that fills it exactly (agent-ref.md §3), so we stay strictly below.
    /// </summary>
    internal static bool Fits(AgentEnvelope envelope) =>
        AgentPlaintextCodec.Encode(new AgentPlaintext.Message(long.MaxValue / 10, DateTimeOffset.UtcNow, new byte[32], envelope)).Length < PaddedSize;

    /// <summary>OFF: suspends our receive queue; the peer's sends fail with AUTH from now on.</summary>
    public async Task SuspendAsync(string alias, CancellationToken ct = default)
    {
        var rcv = await RequireRcvQueue(alias, ct).ConfigureAwait(false);
        using var key = ImportPrivate(rcv.RcvKey);
        await Broker(() => _smp.SuspendAsync(SmpServerAddress.Parse(rcv.Server), rcv.RcvId, key, ct)).ConfigureAwait(false);
        await _store.TransactAsync(tx => tx.UpdateRcvQueue(alias, QueueStatus.Disabled), ct).ConfigureAwait(false);
    }

    /// <summary>DEL: deletes our receive queue on its server and the connection here.</summary>
    public async Task DeleteAsync(string alias, CancellationToken ct = default)
    {
        var rcv = await _store.TransactAsync(tx =>
        {
            if (!tx.ConnectionExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            return tx.GetRcvQueue(alias);
        }, ct).ConfigureAwait(false);
        if (rcv is not null)
        {
            using var key = ImportPrivate(rcv.RcvKey);
            try
            {
                await _smp.DeleteAsync(SmpServerAddress.Parse(rcv.Server), rcv.RcvId, key, ct).ConfigureAwait(false);
            }
            catch (SmpClientException e) when (e.Error.Kind == SmpClientErrorKind.Smp)
            {
                // Already gone on the server (AUTH): deleting here is still right.
            }
            catch (SmpClientException e)
            {
                throw new AgentProtocolException(e.Error.ToAgentError());
            }
        }
        await _store.TransactAsync(tx => tx.DeleteConnection(alias), ct).ConfigureAwait(false);
        Release(alias);
    }

    private async Task<RcvQueueRecord> RequireRcvQueue(string alias, CancellationToken ct) =>
        await _store.TransactAsync(tx =>
        {
            if (!tx.ConnectionExists(alias)) throw new AgentProtocolException(AgentErrorCode.ConnUnknown);
            return tx.GetRcvQueue(alias) ?? throw new AgentProtocolException(AgentErrorCode.ConnSimplex);
        }, ct).ConfigureAwait(false);

    /// <summary>Runs an SMP call and turns its failure into the agent's error (SMP e / BROKER e).</summary>
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

    private static async Task Broker(Func<Task> call) => await Broker(async () => { await call().ConfigureAwait(false); return true; }).ConfigureAwait(false);
}
