using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Agent;

// The persistent outbox (agent.md §5): each connection's jobs run strictly in order; a job that fails for
// a passing reason (server down, timeout) waits and retries; one that fails for good reports to the
// client with the corrId of the command that caused it.
public sealed partial class SmpAgent
{
    private enum Outcome
    {
        Done,
        Retry,
        Failed,
    }

    private readonly object _jobsLock = new();
    private readonly HashSet<string> _running = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TaskCompletionSource> _wake = new(StringComparer.Ordinal);

    /// <summary>Faults (bugs, store errors) per job, apart from the attempts a passing network failure counts.</summary>
    private readonly ConcurrentDictionary<long, int> _faults = new();

    /// <summary>Starts the connection's job runner, or wakes it if it is waiting to retry.</summary>
    internal void KickJobs(string alias)
    {
        lock (_jobsLock)
        {
            if (_running.Contains(alias))
            {
                if (_wake.TryGetValue(alias, out var w)) w.TrySetResult();
                else _wake[alias] = CompletedWake();
                return;
            }
            _running.Add(alias);
        }
        _jobRunners[alias] = Task.Run(() => RunJobsAsync(alias));
    }

    private static TaskCompletionSource CompletedWake()
    {
        var t = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        t.SetResult();
        return t;
    }

    private async Task RunJobsAsync(string alias)
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                TaskCompletionSource wake;
                lock (_jobsLock)
                {
                    _wake.Remove(alias);
                    wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _wake[alias] = wake;
                }
                var job = await _store.TransactAsync(tx => tx.NextJob(alias), _stop.Token).ConfigureAwait(false);
                if (job is null)
                {
                    lock (_jobsLock)
                    {
                        if (wake.Task.IsCompleted) continue;
                        _running.Remove(alias);
                        _wake.Remove(alias);
                        _jobRunners.TryRemove(alias, out _);
                        return;
                    }
                }
                Outcome outcome;
                try
                {
                    outcome = await ExecuteAsync(job).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
                {
                    // Even reporting the failure failed (the store?): wait and try the job again, never stop the runner.
                    _log.LogError(e, "job {Kind} could not be handled", job.Kind);
                    outcome = Outcome.Retry;
                }
                if (outcome != Outcome.Retry) continue;
                var delay = RetryDelay(job.Attempts);
                await Task.WhenAny(Task.Delay(delay, _stop.Token), wake.Task).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        catch (Exception e)
        {
            _log.LogError(e, "job runner stopped");
        }
        finally
        {
            lock (_jobsLock)
            {
                _running.Remove(alias);
                _wake.Remove(alias);
            }
        }
    }

    private TimeSpan RetryDelay(int attempts)
    {
        var ms = _options.RetryInitialDelay.TotalMilliseconds * Math.Pow(1.5, Math.Min(attempts, 40));
        return TimeSpan.FromMilliseconds(Math.Min(ms, _options.RetryMaxDelay.TotalMilliseconds));
    }

    /// <summary>How many AUTH answers HELLO may get before the handshake is given up.</summary>
    private int HelloAttemptLimit
    {
        get
        {
            var total = 0.0;
            var n = 0;
            while (total < _options.HelloRetryLimit.TotalMilliseconds && n < 1_000_000) total += RetryDelay(n++).TotalMilliseconds;
            return Math.Max(8, n);
        }
    }

    private async Task<Outcome> ExecuteAsync(JobRecord job)
    {
        try
        {
            switch (job.Kind)
            {
                case JobKind.SendConfirmation: return await SendJobAsync(job, signed: false).ConfigureAwait(false);
                case JobKind.SendHello: return await SendJobAsync(job, signed: true).ConfigureAwait(false);
                case JobKind.SendReply: return await SendJobAsync(job, signed: true).ConfigureAwait(false);
                case JobKind.SendMessage: return await SendJobAsync(job, signed: true).ConfigureAwait(false);
                case JobKind.CreateReplyQueue: return await CreateReplyQueueAsync(job).ConfigureAwait(false);
                case JobKind.SecureQueue: return await SecureQueueJobAsync(job).ConfigureAwait(false);
                case JobKind.GroupInvite: return await GroupInviteJobAsync(job).ConfigureAwait(false);
                case JobKind.GroupIntroInvite: return await GroupIntroInviteJobAsync(job).ConfigureAwait(false);
                case JobKind.DropConnection: return await DropConnectionJobAsync(job).ConfigureAwait(false);
                default:
                    _log.LogError("unknown job kind {Kind}; dropped", job.Kind);
                    await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
                    return Outcome.Failed;
            }
        }
        catch (SmpClientException e) when (e.Error.Kind is SmpClientErrorKind.Network or SmpClientErrorKind.Timeout
                                               or SmpClientErrorKind.Transport or SmpClientErrorKind.Unexpected or SmpClientErrorKind.Response)
        {
            await _store.TransactAsync(tx => tx.CountJobAttempt(job.Id)).ConfigureAwait(false);
            return Outcome.Retry;
        }
        catch (SmpClientException e)
        {
            // The server refused (ERR) or the body cannot fit: trying again cannot help.
            await FailJobAsync(job, e.Error.ToAgentError()).ConfigureAwait(false);
            return Outcome.Failed;
        }
        catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
        {
            // A fault of ours: a few more tries (it may be passing), then the job is given up, never the runner.
            _log.LogError(e, "job {Kind} failed", job.Kind);
            if (_faults.AddOrUpdate(job.Id, 1, (_, n) => n + 1) > MaxFaultAttempts)
            {
                _faults.TryRemove(job.Id, out _);
                await FailJobAsync(job, AgentError.Internal(e.GetType().Name)).ConfigureAwait(false);
                return Outcome.Failed;
            }
            await _store.TransactAsync(tx => tx.CountJobAttempt(job.Id)).ConfigureAwait(false);
            return Outcome.Retry;
        }
    }

    private const int MaxFaultAttempts = 5;

    private async Task<Outcome> SendJobAsync(JobRecord job, bool signed)
    {
        var snd = await _store.TransactAsync(tx => tx.GetSndQueue(job.Alias)).ConfigureAwait(false);
        if (snd is null)
        {
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return Outcome.Done;
        }
        using var key = signed ? ImportPrivate(snd.SndKey) : null;
        try
        {
            await _smp.SendAsync(SmpServerAddress.Parse(snd.Server), snd.SndId, key, job.Body, _stop.Token).ConfigureAwait(false);
        }
        catch (SmpClientException e) when (job.Kind == JobKind.SendHello && e.Error is { Kind: SmpClientErrorKind.Smp, SmpError: SmpErrorCode.Auth }
                                           && job.Attempts < HelloAttemptLimit)
        {
            // The peer has not secured its queue yet (agent.md §1 step 3): try again later.
            await _store.TransactAsync(tx => tx.CountJobAttempt(job.Id)).ConfigureAwait(false);
            return Outcome.Retry;
        }
        catch (SmpClientException e) when (e.Error.Kind is SmpClientErrorKind.Smp or SmpClientErrorKind.Large)
        {
            await FailJobAsync(job, e.Error.ToAgentError()).ConfigureAwait(false);
            return Outcome.Failed;
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
                    return CompleteIfDuplex(tx, job.Alias);
                case JobKind.SendMessage when job.MsgId > 0:
                    tx.InsertEvent(job.Alias, job.CorrId, AgentWire.Sent(job.MsgId));
                    return true;
                default:
                    return false;
            }
        }).ConfigureAwait(false);
        if (notify) await DispatchAsync(job.Alias).ConfigureAwait(false);
        return Outcome.Done;
    }

    /// <summary>When both queues of a connection are active it is up: CON, once (agent.md §1 step 6).</summary>
    private static bool CompleteIfDuplex(StoreTx tx, string alias)
    {
        var conn = tx.GetConnection(alias);
        var rcv = tx.GetRcvQueue(alias);
        var snd = tx.GetSndQueue(alias);
        if (conn is null || conn.Status == ConnectionStatus.Active || rcv?.Status != QueueStatus.Active || snd?.Status != QueueStatus.Active) return false;
        tx.SetConnectionStatus(alias, ConnectionStatus.Active);
        // Group connections are internal: the group envelopes on them say what the client hears.
        if (conn.Kind != ConnectionKind.Direct) return false;
        tx.InsertEvent(alias, "", AgentWire.Con);
        return true;
    }

    /// <summary>Where a connection's errors go: a group connection's to its group.</summary>
    private static string ErrorAlias(StoreTx tx, string alias) =>
        tx.GetConnection(alias) is { Kind: ConnectionKind.Group } c ? c.Owner : alias;

    /// <summary>A job failed for good: the command's client hears of it; a half-made connection is removed.</summary>
    private async Task FailJobAsync(JobRecord job, AgentError error)
    {
        _log.LogInformation("job {Kind} failed: {Error}", job.Kind, error);
        var errorAlias = await _store.TransactAsync(tx =>
        {
            tx.DeleteJob(job.Id);
            var conn = tx.GetConnection(job.Alias);
            var errorAlias = ErrorAlias(tx, job.Alias);
            if (job.Kind is JobKind.SendConfirmation or JobKind.SendHello && conn?.Status == ConnectionStatus.Joining && conn.Kind == ConnectionKind.Direct)
                tx.DeleteConnection(job.Alias);
            if (job.Kind == JobKind.GroupIntroInvite && tx.GetMember(BitConverter.ToInt64(job.Body)) is { IntroId: not null } member)
            {
                // The introducer must hear of it, or it waits for this introduction for ever (groups.md §3).
                tx.SetMemberStatus(member.Id, MemberStatus.Removed);
                QueueEnvelope(tx, job.Alias, new AgentEnvelope.GAddErr(member.IntroId, GroupAddErrorReason.JoinFailed));
            }
            tx.InsertEvent(errorAlias, job.CorrId, AgentWire.Err(error));
            return errorAlias;
        }).ConfigureAwait(false);
        await DispatchAsync(errorAlias).ConfigureAwait(false);
    }

    /// <summary>The joiner's reply queue (agent.md §1 step 4): created here, then its REPLY is sent as its own job.</summary>
    private async Task<Outcome> CreateReplyQueueAsync(JobRecord job)
    {
        var snd = await _store.TransactAsync(tx => tx.GetSndQueue(job.Alias)).ConfigureAwait(false);
        if (snd is null)
        {
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return Outcome.Done;
        }
        var (invitation, record) = await CreateReceiveQueueAsync(job.Alias, _stop.Token).ConfigureAwait(false);
        using var peerKey = RsaPublicKey.Parse(snd.EncryptKey);
        using var signKey = ImportPrivate(snd.SignKey);
        var reply = E2eEnvelope.Seal(peerKey, signKey, AgentWire.Unchained(new AgentEnvelope.Reply(invitation)), PaddedSize);
        await _store.TransactAsync(tx =>
        {
            tx.InsertRcvQueue(record);
            tx.ReplaceJob(job.Id, JobKind.SendReply, reply);
        }).ConfigureAwait(false);
        return Outcome.Done;
    }

    /// <summary>Secures our receive queue with the sender key from the confirmation (agent.md §1 step 3).</summary>
    private async Task<Outcome> SecureQueueJobAsync(JobRecord job)
    {
        var rcv = await _store.TransactAsync(tx => tx.GetRcvQueue(job.Alias)).ConfigureAwait(false);
        if (rcv?.SenderKey is null)
        {
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return Outcome.Done;
        }
        using var key = ImportPrivate(rcv.RcvKey);
        try
        {
            await _smp.SecureQueueAsync(SmpServerAddress.Parse(rcv.Server), rcv.RcvId, key, rcv.SenderKey, _stop.Token).ConfigureAwait(false);
        }
        catch (SmpClientException e) when (e.Error is { Kind: SmpClientErrorKind.Smp, SmpError: SmpErrorCode.Auth })
        {
            // KEY on a queue that already has a sender key answers AUTH: a retry after a crash, already done.
        }
        catch (SmpClientException e) when (e.Error.Kind == SmpClientErrorKind.Smp)
        {
            await FailJobAsync(job, e.Error.ToAgentError()).ConfigureAwait(false);
            return Outcome.Failed;
        }
        await _store.TransactAsync(tx =>
        {
            tx.DeleteJob(job.Id);
            var current = tx.GetRcvQueue(job.Alias);
            if (current?.Status == QueueStatus.Confirmed) tx.UpdateRcvQueue(job.Alias, QueueStatus.Secured);
        }).ConfigureAwait(false);
        return Outcome.Done;
    }

    /// <summary>Makes a receive queue for a new connection: the "NEW" half of a handshake, done inside the agent.</summary>
    private async Task<(SmpQueueInfo Invitation, RcvQueueRecord Record)> CreateReceiveQueueAsync(string alias, CancellationToken ct)
    {
        var server = PickServer();
        using var rcvKey = _keys.Take();
        using var e2e = _e2eKeys.Take();
        var (rid, sid) = await _smp.CreateQueueAsync(server, rcvKey, ct).ConfigureAwait(false);
        var encryptKey = e2e.ExportSubjectPublicKeyInfo();
        return (new SmpQueueInfo(server, sid, encryptKey),
            new RcvQueueRecord(alias, server.ToString(), rid, sid, rcvKey.ExportPkcs8PrivateKey(), e2e.ExportPkcs8PrivateKey(), encryptKey, null, null, QueueStatus.New));
    }

    /// <summary>GADD's network half: the group connection for the invitee, then G_INV on the direct connection.</summary>
    private async Task<Outcome> GroupInviteJobAsync(JobRecord job)
    {
        var member = await _store.TransactAsync(tx => tx.GetMember(BitConverter.ToInt64(job.Body))).ConfigureAwait(false);
        if (member is null || member.Status != MemberStatus.Invited)
        {
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return Outcome.Done;
        }
        var conn = NewGroupConnAlias();
        var (invitation, record) = await CreateReceiveQueueAsync(conn, _stop.Token).ConfigureAwait(false);
        await _store.TransactAsync(tx =>
        {
            var g = tx.GetGroup(member.GroupAlias);
            var snd = tx.GetSndQueue(job.Alias);
            var current = tx.GetMember(member.Id);
            if (g is null || g.Status != GroupStatus.Active || snd is null || current?.Status != MemberStatus.Invited)
            {
                tx.DeleteJob(job.Id);
                return;
            }
            tx.InsertConnection(new ConnectionRecord(conn, ConnectionKind.Group, ConnectionStatus.Pending, Owner: g.Alias));
            tx.InsertRcvQueue(record);
            tx.SetMemberConnections(member.Id, conn, member.DirectAlias);
            var (_, body) = SealNext(tx, job.Alias, snd,
                new AgentEnvelope.GInv(member.InvId!, g.GroupId, member.MemberId!, member.Clvl, invitation, g.Info));
            tx.ReplaceJob(job.Id, JobKind.SendMessage, body);
        }).ConfigureAwait(false);
        return Outcome.Done;
    }

    /// <summary>G_MEM's network half at the invitee: group and direct queues for the member, then G_INV_MEM.</summary>
    private async Task<Outcome> GroupIntroInviteJobAsync(JobRecord job)
    {
        var member = await _store.TransactAsync(tx => tx.GetMember(BitConverter.ToInt64(job.Body))).ConfigureAwait(false);
        if (member is null || member.Status != MemberStatus.Joining || member.GroupConn.Length > 0)
        {
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return Outcome.Done;
        }
        var groupConn = NewGroupConnAlias();
        var direct = NewAlias();
        var (groupInv, groupRecord) = await CreateReceiveQueueAsync(groupConn, _stop.Token).ConfigureAwait(false);
        var (directInv, directRecord) = await CreateReceiveQueueAsync(direct, _stop.Token).ConfigureAwait(false);
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            var snd = tx.GetSndQueue(job.Alias);
            var current = tx.GetMember(member.Id);
            if (snd is null || current?.Status != MemberStatus.Joining)
            {
                tx.DeleteJob(job.Id);
                return;
            }
            tx.InsertConnection(new ConnectionRecord(groupConn, ConnectionKind.Group, ConnectionStatus.Pending, Owner: member.GroupAlias));
            tx.InsertRcvQueue(groupRecord);
            tx.InsertConnection(new ConnectionRecord(direct, ConnectionKind.Direct, ConnectionStatus.Pending));
            tx.InsertRcvQueue(directRecord);
            tx.SetMemberConnections(member.Id, groupConn, direct);
            var (_, body) = SealNext(tx, job.Alias, snd, new AgentEnvelope.GInvMem(member.IntroId!, groupInv, directInv));
            tx.ReplaceJob(job.Id, JobKind.SendMessage, body);
            fx.Inherit.Add((direct, member.GroupAlias));
        }).ConfigureAwait(false);
        await RunEffectsAsync(fx).ConfigureAwait(false);
        return Outcome.Done;
    }

    /// <summary>Ends a connection once everything queued before this job has gone out.</summary>
    private async Task<Outcome> DropConnectionJobAsync(JobRecord job)
    {
        var rcv = await _store.TransactAsync(tx => tx.GetRcvQueue(job.Alias)).ConfigureAwait(false);
        if (rcv is not null)
        {
            var server = SmpServerAddress.Parse(rcv.Server);
            using var key = ImportPrivate(rcv.RcvKey);
            try
            {
                await _smp.DeleteAsync(server, rcv.RcvId, key, _stop.Token).ConfigureAwait(false);
            }
            catch (SmpClientException e) when (e.Error.Kind is SmpClientErrorKind.Smp)
            {
                _smp.Unsubscribe(server, rcv.RcvId);
            }
        }
        await _store.TransactAsync(tx => tx.DeleteConnection(job.Alias)).ConfigureAwait(false);
        Release(job.Alias);
        return Outcome.Done;
    }
}
