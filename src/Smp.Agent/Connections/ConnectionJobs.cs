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
    private readonly AgentCounters _counters;
    private readonly int _helloAttemptLimit;
    private readonly int _dropHelloAttemptLimit;
    private readonly TimeSpan _helloRetryInitialDelay;

    public ConnectionJobs(ConnectionEngine engine, AgentStore store, EventRouter router, Outbox outbox, AgentCounters counters, AgentOptions options)
    {
        _counters = counters;
        _engine = engine;
        _store = store;
        _router = router;
        _outbox = outbox;
        _helloRetryInitialDelay = options.HelloRetryInitialDelay;
        _helloAttemptLimit = Outbox.AttemptsWithin(options.HelloRetryLimit, options.HelloRetryInitialDelay, options.RetryMaxDelay);
        _dropHelloAttemptLimit = Math.Min(_helloAttemptLimit, Outbox.AttemptsWithin(options.DropHelloLimit, options.HelloRetryInitialDelay, options.RetryMaxDelay));
    }

    /// <summary>How many AUTH answers HELLO may get before the handshake is given up.</summary>
    public int HelloAttemptLimit => _helloAttemptLimit;

    public void Register()
    {
        _outbox.Register(JobKind.SendConfirmation, new JobHandler((j, ct) => SendAsync(j, signed: false, ct), HandshakeFailed));
        // HELLO goes out right after the confirmation, so its first try usually meets AUTH: the peer is still
        // securing its queue, which takes it milliseconds (agent.md §1 step 3). Hence its own short back-off.
        _outbox.Register(JobKind.SendHello, new JobHandler((j, ct) => SendAsync(j, signed: true, ct), HandshakeFailed,
            n => _outbox.Backoff(_helloRetryInitialDelay, n)));
        _outbox.Register(JobKind.SendReply, new JobHandler((j, ct) => SendAsync(j, signed: true, ct), OwnedHandshakeFailed));
        var window = new WindowHandler(SendWindowAsync);
        _outbox.Register(JobKind.SendMessage, window);
        _outbox.Register(JobKind.SendPlainMessage, window, FarewellRefused);
        _outbox.Register(JobKind.CreateReplyQueue, new JobHandler(CreateReplyQueueAsync, OwnedHandshakeFailed));
        _outbox.Register(JobKind.SecureQueue, new JobHandler(SecureQueueAsync));
        _outbox.Register(JobKind.DropConnection, new JobHandler(DropConnectionAsync));
    }

    /// <summary>
    /// A JOIN whose confirmation or HELLO failed for good leaves no half-made direct connection behind; a
    /// connection owned by the layer above (a group's) is that layer's to end.
    /// </summary>
    private bool HandshakeFailed(StoreTx tx, JobRecord job, Effects fx)
    {
        if (tx.GetConnection(job.Alias) is not { Status: ConnectionStatus.Joining, Kind: ConnectionKind.Direct }) return OwnedHandshakeFailed(tx, job, fx);
        tx.DeleteConnection(job.Alias);
        return false;
    }

    /// <summary>
    /// An agent envelope refused for good on a connection being ended (a farewell to a peer that has dropped
    /// us already, which answers AUTH) is no news for the client: no ERR.
    /// </summary>
    private static bool FarewellRefused(StoreTx tx, JobRecord job, Effects fx) => tx.HasJob(job.Alias, JobKind.DropConnection);

    private bool OwnedHandshakeFailed(StoreTx tx, JobRecord job, Effects fx) =>
        tx.GetConnection(job.Alias) is { Owner.Length: > 0 } conn && _engine.UpperLayer.HandshakeFailed(tx, conn, fx);

    private async Task<JobOutcome> SendAsync(JobRecord job, bool signed, CancellationToken ct)
    {
        var snd = await _store.TransactAsync(tx => tx.GetSndQueue(job.Alias)).ConfigureAwait(false);
        if (snd is null)
        {
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return JobOutcome.Done;
        }
        // Counted before the first try, so that a later try knows an earlier copy may have arrived.
        if (job.Kind == JobKind.SendConfirmation && job.Attempts == 0)
            await _store.TransactAsync(tx => tx.CountJobAttempt(job.Id)).ConfigureAwait(false);
        using var key = signed ? RsaKeys.Private.Rent(snd.SndKey) : null;
        try
        {
            await _engine.Smp.SendAsync(SmpServerAddress.Parse(snd.Server), snd.SndId, key?.Key, job.Body, ct).ConfigureAwait(false);
        }
        catch (SmpClientException e) when (job.Kind == JobKind.SendHello && SmpErrorPolicy.Classify(SmpOperation.SendHello, e.Error) == SmpFailure.NotYet)
        {
            // The peer has not secured its queue yet (agent.md §1 step 3): try again later. On a connection
            // being dropped only for DropHelloLimit: then what waits behind HELLO goes, and the drop runs.
            // Below the drop limit it is retried either way, so the store is asked only past it: the first
            // HELLO of nearly every connection meets AUTH, on the setup's critical path.
            var dropping = job.Attempts >= _dropHelloAttemptLimit
                           && await _store.TransactAsync(tx => tx.HasJob(job.Alias, JobKind.DropConnection)).ConfigureAwait(false);
            if (job.Attempts < (dropping ? _dropHelloAttemptLimit : _helloAttemptLimit))
            {
                await _outbox.CountAttemptAsync(job).ConfigureAwait(false);
                return JobOutcome.Retry;
            }
            if (!dropping) throw;
            await _store.TransactAsync(tx => tx.DeleteJobsExcept(job.Alias, JobKind.DropConnection)).ConfigureAwait(false);
            return JobOutcome.Done;
        }
        catch (SmpClientException e) when (job.Kind == JobKind.SendConfirmation && job.Attempts > 0
                                           && SmpErrorPolicy.Classify(SmpOperation.ResendConfirmation, e.Error) == SmpFailure.AlreadyDone)
        {
            // An earlier copy went through and the peer has secured its queue since: go on to HELLO.
        }
        _counters.CountSent();
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
                default:
                    return false;
            }
        }).ConfigureAwait(false);
        if (notify) await _router.DispatchAsync(job.Alias).ConfigureAwait(false);
        return JobOutcome.Done;
    }

    /// <summary>
    /// A window of agent messages (agent.md §4): each is sealed (plaintext jobs) and its SEND started without
    /// waiting for the previous OK, all on one server connection so they arrive in order. The answers are
    /// taken in order; the run of OKs from the first is committed in one transaction (SENT for each, in
    /// order), and the first failure ends the window: that job and every later one are sent again by the next
    /// window, whatever their answers, so SENT never runs ahead of an unconfirmed message and the receiver
    /// drops the copies (rcv_chain).
    /// </summary>
    private async Task<WindowResult> SendWindowAsync(IReadOnlyList<JobRecord> jobs, CancellationToken ct)
    {
        var alias = jobs[0].Alias;
        var snd = await _store.TransactAsync(tx => tx.GetSndQueue(alias)).ConfigureAwait(false);
        if (snd is null)
        {
            await _store.TransactAsync(tx => { foreach (var job in jobs) tx.DeleteJob(job.Id); }).ConfigureAwait(false);
            return new WindowResult(jobs.Count, null);
        }
        var answers = new List<Task>(jobs.Count);
        Exception? failure = null;
        try
        {
            var sender = await _engine.Smp.SenderAsync(SmpServerAddress.Parse(snd.Server), ct).ConfigureAwait(false);
            using var key = RsaKeys.Private.Rent(snd.SndKey);
            foreach (var job in jobs)
            {
                var body = job.Kind == JobKind.SendPlainMessage ? Envelopes.Seal(snd, job.Body) : job.Body;
                answers.Add(sender.StartSend(snd.SndId, key.Key, body, ct));
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The job at answers.Count did not go out; the ones before it did.
            failure = e;
        }
        // Every answer is awaited, so nothing of this window is still in flight when the next one starts.
        var done = answers.Count;
        for (var i = 0; i < answers.Count; i++)
        {
            try
            {
                await answers[i].ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                if (i < done)
                {
                    done = i;
                    failure = e;
                }
            }
        }
        if (done > 0)
        {
            _counters.CountSent(done);
            var confirmed = jobs.Take(done).ToList();
            var notify = await _store.TransactAsync(tx =>
            {
                var sent = false;
                foreach (var job in confirmed)
                {
                    tx.DeleteJob(job.Id);
                    if (job.MsgId <= 0) continue;
                    tx.InsertEvent(job.Alias, job.CorrId, AgentWire.Sent(job.MsgId));
                    sent = true;
                }
                return sent;
            }).ConfigureAwait(false);
            if (notify) await _router.DispatchAsync(alias).ConfigureAwait(false);
        }
        return new WindowResult(done, failure);
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
        using var peerKey = RsaKeys.Public.Rent(snd.EncryptKey);
        using var signKey = RsaKeys.Private.Rent(snd.SignKey);
        var reply = Envelopes.SealUnchained(peerKey.Key, signKey.Key, new AgentEnvelope.Reply(queue.Invitation));
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
        using var key = RsaKeys.Private.Rent(rcv.RcvKey);
        try
        {
            await _engine.Smp.SecureQueueAsync(SmpServerAddress.Parse(rcv.Server), rcv.RcvId, key.Key, rcv.SenderKey, ct).ConfigureAwait(false);
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
            using var key = RsaKeys.Private.Rent(rcv.RcvKey);
            try
            {
                await _engine.Smp.DeleteAsync(server, rcv.RcvId, key.Key, ct).ConfigureAwait(false);
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
