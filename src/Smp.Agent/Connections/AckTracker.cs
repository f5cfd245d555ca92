using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Smp.Agent.Smp;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Connections;

/// <summary>
/// ACKs (agent.md §4). SMP 0.3's ACK names no message: it removes whatever the server delivered last on
/// the queue. So a redelivery of the message last ACKed is never ACKed again (that would remove the next
/// message unseen), an ACK that could not be sent is kept until the server is up again, and one that was
/// sent but not answered is never repeated.
/// <para>
/// Both live in memory only, and a restart cannot lose anything by it: a message is ACKed only after the
/// transaction that applied it committed, the server keeps an unACKed message and delivers it again on the
/// next SUB, and that redelivery is dropped by the persisted server message ids (<c>rcv_seen</c>) and then
/// ACKed. A fresh process has fresh server connections, so no redelivery from before the restart is in
/// flight for the "last ACKed" check to catch.
/// </para>
/// </summary>
internal sealed class AckTracker(SmpClientPool smp, ILogger log, CancellationToken stopping)
{
    private readonly ConcurrentDictionary<string, byte[]> _lastAcked = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, PendingAck> _pending = new(StringComparer.Ordinal);

    private sealed record PendingAck(SmpServerAddress Server, byte[] RecipientId, byte[] MsgId, byte[] Key);

    private static string QueueKey(SmpServerAddress server, byte[] recipientId) => server + "/" + Convert.ToBase64String(recipientId);

    /// <summary>
    /// An ACK for a message on this queue signed ahead, while the message is applied; give it to
    /// <see cref="AckAsync"/>, which sends it only if an ACK is due. Its failure is <see cref="AckAsync"/>'s.
    /// </summary>
    public Task<SmpPreparedCommand> PrepareAsync(SmpServerAddress server, byte[] recipientId, byte[] rcvKey) => Task.Run(async () =>
    {
        using var key = RsaKeys.Private.Rent(rcvKey);
        return await smp.PrepareAckAsync(server, recipientId, key.Key, stopping).ConfigureAwait(false);
    });

    /// <summary>A prepared ACK that will not be sent: its failure, if it failed, is of no interest.</summary>
    public static void Discard(Task<SmpPreparedCommand> prepared) =>
        prepared.ContinueWith(t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    /// <summary>ACKs message <paramref name="msgId"/> on its queue, unless it is the one ACKed last there.</summary>
    public async Task AckAsync(SmpServerAddress server, byte[] recipientId, byte[] msgId, byte[] rcvKey, Task<SmpPreparedCommand>? prepared = null)
    {
        var queueKey = QueueKey(server, recipientId);
        if (_lastAcked.TryGetValue(queueKey, out var acked) && acked.AsSpan().SequenceEqual(msgId))
        {
            if (prepared is not null) Discard(prepared);
            return;
        }
        try
        {
            if (prepared is not null)
            {
                await (await prepared.ConfigureAwait(false)).SendAsync(stopping).ConfigureAwait(false);
            }
            else
            {
                using var key = RsaKeys.Private.Rent(rcvKey);
                await smp.AckAsync(server, recipientId, key.Key, stopping).ConfigureAwait(false);
            }
            _lastAcked[queueKey] = msgId;
            _pending.TryRemove(queueKey, out _);
        }
        catch (SmpClientException e) when (SmpErrorPolicy.Classify(SmpOperation.Ack, e.Error) == SmpFailure.Passing && !e.MayHaveArrived)
        {
            // Never sent (the server is down, or a re-subscription delivered before the pool reported it up).
            _pending[queueKey] = new PendingAck(server, recipientId, msgId, rcvKey);
            log.LogInformation("ACK on {Server} postponed: {Error}", server.Endpoint, e.Error);
        }
        catch (SmpClientException e) when (SmpErrorPolicy.Classify(SmpOperation.Ack, e.Error) == SmpFailure.Passing)
        {
            // Sent, answer lost: the server may have removed the message and delivered the next one. Sending it
            // again could remove that one unseen; if it did not arrive, the re-subscription delivers the message
            // again and its redelivery is ACKed then.
            log.LogInformation("ACK on {Server} unanswered: {Error}; not repeated", server.Endpoint, e.Error);
        }
        catch (SmpClientException e)
        {
            log.LogInformation("ACK on {Server} not needed: {Error}", server.Endpoint, e.Error);
        }
    }

    /// <summary>The server is up again: the ACKs it missed, unless a redelivery was ACKed meanwhile.</summary>
    public async Task RetryPendingAsync(SmpServerAddress server)
    {
        foreach (var (queueKey, pending) in _pending.ToArray())
        {
            if (!pending.Server.Equals(server) || !_pending.TryRemove(queueKey, out _)) continue;
            await AckAsync(pending.Server, pending.RecipientId, pending.MsgId, pending.Key).ConfigureAwait(false);
        }
    }
}
