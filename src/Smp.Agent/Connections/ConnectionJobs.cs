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
/// The connection layer's outbox jobs: the network halves of the handshake (agent.md §1) and of sending.
/// SMP failures escape to the outbox, which asks <see cref="SmpErrorPolicy"/> what they mean; only the
/// refusals a step reads as "not yet" or "already done" are handled here.
/// </summary>
internal sealed class ConnectionJobs
{
    private readonly ConnectionEngine _engine;
    private readonly AgentStore _store;
    private readonly EventRouter _router;
    private readonly Outbox _outbox;
    private readonly int _helloAttemptLimit;
    private readonly TimeSpan _helloRetryInitialDelay;

    public ConnectionJobs(ConnectionEngine engine, AgentStore store, EventRouter router, Outbox outbox, AgentOptions options)
    {
        _engine = engine;
        _store = store;
        _router = router;
        _outbox = outbox;
        _helloRetryInitialDelay = options.HelloRetryInitialDelay;
        _helloAttemptLimit = Outbox.AttemptsWithin(options.HelloRetryLimit, options.HelloRetryInitialDelay, options.RetryMaxDelay);
    }

    /// <summary>How many AUTH answers HELLO may get before the handshake is given up.</summary>
    public int HelloAttemptLimit => _helloAttemptLimit;

    public void Register()
    {
        _outbox.Register(JobKind.SendConfirmation, new JobHandler((j, ct) => SendAsync(j, signed: false, ct), ForgetHalfMadeConnection));
        // HELLO goes out right after the confirmation, so its first try usually meets AUTH: the peer is still
        // securing its queue, which takes it milliseconds (agent.md §1 step 3). Hence its own short back-off.
        _outbox.Register(JobKind.SendHello, new JobHandler((j, ct) => SendAsync(j, signed: true, ct), ForgetHalfMadeConnection,
            n => _outbox.Backoff(_helloRetryInitialDelay, n)));
        _outbox.Register(JobKind.SendReply, new JobHandler((j, ct) => SendAsync(j, signed: true, ct)));
        _outbox.Register(JobKind.SendMessage, new JobHandler((j, ct) => SendAsync(j, signed: true, ct)));
        _outbox.Register(JobKind.CreateReplyQueue, new JobHandler(CreateReplyQueueAsync));
        _outbox.Register(JobKind.SecureQueue, new JobHandler(SecureQueueAsync));
        _outbox.Register(JobKind.DropConnection, new JobHandler(DropConnectionAsync));
    }

    /// <summary>A JOIN whose confirmation or HELLO failed for good leaves no half-made connection behind.</summary>
    private static void ForgetHalfMadeConnection(StoreTx tx, JobRecord job, Effects fx)
    {
        if (tx.GetConnection(job.Alias) is { Status: ConnectionStatus.Joining, Kind: ConnectionKind.Direct }) tx.DeleteConnection(job.Alias);
    }

    private async Task<JobOutcome> SendAsync(JobRecord job, bool signed, CancellationToken ct)
    {
        var snd = await _store.TransactAsync(tx => tx.GetSndQueue(job.Alias)).ConfigureAwait(false);
        if (snd is null)
        {
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return JobOutcome.Done;
        }
        using var key = signed ? Keys.ImportPrivate(snd.SndKey) : null;
        try
        {
            await _engine.Smp.SendAsync(SmpServerAddress.Parse(snd.Server), snd.SndId, key, job.Body, ct).ConfigureAwait(false);
        }
        catch (SmpClientException e) when (job.Kind == JobKind.SendHello && job.Attempts < _helloAttemptLimit
                                           && SmpErrorPolicy.Classify(SmpOperation.SendHello, e.Error) == SmpFailure.NotYet)
        {
            // The peer has not secured its queue yet (agent.md §1 step 3): try again later.
            await _outbox.CountAttemptAsync(job).ConfigureAwait(false);
            return JobOutcome.Retry;
        }
        var notify = await _store.TransactAsync(tx =>
        {
            tx.DeleteJob(job.Id);
            switch (job.Kind)
            {
                case JobKind.SendConfirmation:
                    tx.SetSndQueueStatus(job.Alias, QueueStatus.Confirmed);
                    return false;
                case JobKind.SendHello:
                    tx.SetSndQueueStatus(job.Alias, QueueStatus.Active);
                    return ConnectionEngine.CompleteIfDuplex(tx, job.Alias);
                case JobKind.SendMessage when job.MsgId > 0:
                    tx.InsertEvent(job.Alias, job.CorrId, AgentWire.Sent(job.MsgId));
                    return true;
                default:
                    return false;
            }
        }).ConfigureAwait(false);
        if (notify) await _router.DispatchAsync(job.Alias).ConfigureAwait(false);
        return JobOutcome.Done;
    }

    /// <summary>The joiner's reply queue (agent.md §1 step 4): created here, then its REPLY is sent as its own job.</summary>
    private async Task<JobOutcome> CreateReplyQueueAsync(JobRecord job, CancellationToken ct)
    {
        var snd = await _store.TransactAsync(tx => tx.GetSndQueue(job.Alias)).ConfigureAwait(false);
        if (snd is null)
        {
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return JobOutcome.Done;
        }
        var queue = await _engine.MakeReceiveQueueAsync(job.Alias, ct).ConfigureAwait(false);
        using var peerKey = RsaPublicKey.Parse(snd.EncryptKey);
        using var signKey = Keys.ImportPrivate(snd.SignKey);
        var reply = Envelopes.SealUnchained(peerKey, signKey, new AgentEnvelope.Reply(queue.Invitation));
        await _store.TransactAsync(tx =>
        {
            tx.InsertRcvQueue(queue.Record);
            // Unchained, so keeping the job's place in the queue cannot reorder any chain.
            tx.ReplaceJob(job.Id, JobKind.SendReply, reply);
        }).ConfigureAwait(false);
        return JobOutcome.Done;
    }

    /// <summary>Secures our receive queue with the sender key from the confirmation (agent.md §1 step 3).</summary>
    private async Task<JobOutcome> SecureQueueAsync(JobRecord job, CancellationToken ct)
    {
        var rcv = await _store.TransactAsync(tx => tx.GetRcvQueue(job.Alias)).ConfigureAwait(false);
        if (rcv?.SenderKey is null)
        {
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return JobOutcome.Done;
        }
        using var key = Keys.ImportPrivate(rcv.RcvKey);
        try
        {
            await _engine.Smp.SecureQueueAsync(SmpServerAddress.Parse(rcv.Server), rcv.RcvId, key, rcv.SenderKey, ct).ConfigureAwait(false);
        }
        catch (SmpClientException e) when (SmpErrorPolicy.Classify(SmpOperation.Secure, e.Error) == SmpFailure.AlreadyDone)
        {
        }
        await _store.TransactAsync(tx =>
        {
            tx.DeleteJob(job.Id);
            if (tx.GetRcvQueue(job.Alias)?.Status == QueueStatus.Confirmed) tx.UpdateRcvQueue(job.Alias, QueueStatus.Secured);
        }).ConfigureAwait(false);
        return JobOutcome.Done;
    }

    /// <summary>Ends a connection once everything queued before this job has gone out.</summary>
    private async Task<JobOutcome> DropConnectionAsync(JobRecord job, CancellationToken ct)
    {
        var rcv = await _store.TransactAsync(tx => tx.GetRcvQueue(job.Alias)).ConfigureAwait(false);
        if (rcv is not null)
        {
            var server = SmpServerAddress.Parse(rcv.Server);
            using var key = Keys.ImportPrivate(rcv.RcvKey);
            try
            {
                await _engine.Smp.DeleteAsync(server, rcv.RcvId, key, ct).ConfigureAwait(false);
            }
            catch (SmpClientException e) when (SmpErrorPolicy.Classify(SmpOperation.Delete, e.Error) == SmpFailure.AlreadyDone)
            {
                _engine.Smp.Unsubscribe(server, rcv.RcvId);
            }
        }
        await _store.TransactAsync(tx => tx.DeleteConnection(job.Alias)).ConfigureAwait(false);
        _router.Release(job.Alias);
        return JobOutcome.Done;
    }
}
