using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Smp.Agent.Events;
using Smp.Agent.Runtime;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;
using Smp.Protocol.Smp;

namespace Smp.Agent.Jobs;

internal enum JobOutcome
{
    Done,
    Retry,
    Failed,
}

/// <summary>
/// What a job kind does: its network work, what else changes when it fails for good, and, when the kind
/// has its own, the delay before retry number n (else <see cref="Outbox.RetryDelay"/>).
/// </summary>
internal sealed record JobHandler(Func<JobRecord, CancellationToken, Task<JobOutcome>> RunAsync, JobFailedHandler? OnFailed = null,
    Func<int, TimeSpan>? RetryDelay = null);

/// <summary>
/// What else changes when a job fails for good, in the failing transaction. True: the failure was told to
/// the client in the terms of the layer that owns the connection (a group's GMFAILED), so no ERR is added.
/// </summary>
internal delegate bool JobFailedHandler(StoreTx tx, JobRecord job, Effects fx);

/// <summary>
/// How a window of jobs went: the first <paramref name="Done"/> are finished (committed), and when
/// <paramref name="Failure"/> is set it is what happened to the next one; the ones after it are not done.
/// </summary>
internal sealed record WindowResult(int Done, Exception? Failure);

/// <summary>
/// Job kinds that run several at once (a window of SENDs, agent.md §4): the handler gets consecutive jobs of
/// the alias, oldest first, and finishes a prefix of them.
/// </summary>
internal sealed record WindowHandler(Func<IReadOnlyList<JobRecord>, CancellationToken, Task<WindowResult>> RunAsync);

/// <summary>
/// The persistent outbox (agent.md §4): every network action that must survive a restart is a row in
/// <c>jobs</c>, attached to one connection alias. One runner per alias with jobs runs them strictly in
/// order and ends when the alias has none left. Handlers are registered per <see cref="JobKind"/> by the
/// layers that own them; kinds with a <see cref="WindowHandler"/> run up to <see cref="AgentOptions.SendWindow"/>
/// consecutive jobs at once, and after a failure one at a time (a probe) until one succeeds. One catch ladder decides a job's fate: a passing SMP failure waits and retries
/// (×1.5 back-off, or until kicked), a final one drops the job with an ERR to its command's client, and a
/// fault of ours is retried a few times and then dropped with ERR INTERNAL. A job never stops its runner.
/// </summary>
internal sealed class Outbox
{
    /// <summary>Faults (bugs, store errors) a job may have before it is given up.</summary>
    public const int MaxFaultAttempts = 5;

    private readonly AgentStore _store;
    private readonly AgentOptions _options;
    private readonly EventRouter _router;
    private readonly BackgroundTasks _tasks;
    private readonly AgentCounters _counters;
    private readonly ILogger _log;
    private readonly CancellationToken _stopping;
    private readonly Dictionary<JobKind, JobHandler> _handlers = [];
    private readonly Dictionary<JobKind, WindowHandler> _windows = [];
    private readonly Lock _lock = new();

    /// <summary>Aliases whose runner is going, each with the signal that wakes it from a retry wait.</summary>
    private readonly Dictionary<string, TaskCompletionSource> _running = new(StringComparer.Ordinal);

    /// <summary>
    /// Aliases whose last window failed: they send one job at a time until one succeeds (false), or after a
    /// full queue (QUOTA) until they have no jobs left (true). A full queue means a slow reader, and with a
    /// window a SEND after one refused with QUOTA could be accepted once the reader freed a place, and so
    /// arrive before it. In memory only: a restarted agent starts with full windows, and the first failure
    /// makes it probe again.
    /// </summary>
    private readonly ConcurrentDictionary<string, bool> _probing = new(StringComparer.Ordinal);

    /// <summary>
    /// Faults per job id. In memory only: it bounds retries of a job that keeps failing on a bug of ours, and
    /// after a restart such a job simply gets its few tries again; nothing durable depends on it.
    /// </summary>
    private readonly ConcurrentDictionary<long, int> _faults = new();

    public Outbox(AgentStore store, AgentOptions options, EventRouter router, BackgroundTasks tasks, AgentCounters counters, ILogger log, CancellationToken stopping)
    {
        _counters = counters;
        _store = store;
        _options = options;
        _router = router;
        _tasks = tasks;
        _log = log;
        _stopping = stopping;
    }

    public void Register(JobKind kind, JobHandler handler) => _handlers.Add(kind, handler);

    /// <summary>A kind that runs in windows; <paramref name="onFailed"/> as for <see cref="JobHandler.OnFailed"/>.</summary>
    public void Register(JobKind kind, WindowHandler handler, JobFailedHandler? onFailed = null)
    {
        _windows.Add(kind, handler);
        _handlers.Add(kind, new JobHandler((_, _) => throw new InvalidOperationException("a window job runs through its window handler"), onFailed));
    }

    /// <summary>Starts the alias's runner, or wakes it if it is waiting to retry.</summary>
    public void Kick(string alias)
    {
        lock (_lock)
        {
            if (_running.TryGetValue(alias, out var wake))
            {
                wake.TrySetResult();
                return;
            }
            _running[alias] = NewWake();
        }
        _tasks.Run("job runner", () => RunAsync(alias));
    }

    public void KickAll(IEnumerable<string> aliases)
    {
        foreach (var alias in aliases) Kick(alias);
    }

    private const double Growth = 1.5;

    /// <summary>Delay before retry number <paramref name="attempts"/>: the initial delay ×1.5 per attempt, capped.</summary>
    public TimeSpan RetryDelay(int attempts) => Backoff(_options.RetryInitialDelay, attempts);

    /// <summary><paramref name="initial"/> ×1.5 per attempt, capped at the configured maximum.</summary>
    public TimeSpan Backoff(TimeSpan initial, int attempts)
    {
        var ms = initial.TotalMilliseconds * Math.Pow(Growth, Math.Min(attempts, 60));
        return TimeSpan.FromMilliseconds(Math.Min(ms, _options.RetryMaxDelay.TotalMilliseconds));
    }

    /// <summary>
    /// How many retries, waiting <paramref name="initial"/> ×1.5 per retry up to <paramref name="cap"/>, fit
    /// into <paramref name="span"/> (at least 8). Closed form, no loop: the k delays below the cap sum to
    /// initial·(1.5^k − 1)/0.5; the rest of the span is covered at the cap.
    /// </summary>
    public static int AttemptsWithin(TimeSpan span, TimeSpan initial, TimeSpan cap)
    {
        var max = Math.Max(1.0, cap.TotalMilliseconds);
        var d0 = Math.Clamp(initial.TotalMilliseconds, 1.0, max);
        var total = span.TotalMilliseconds;
        var k = Math.Max(0, (int)Math.Ceiling(Math.Log(max / d0) / Math.Log(Growth)));
        var geometric = d0 * (Math.Pow(Growth, k) - 1) / (Growth - 1);
        var n = total <= geometric
            ? Math.Ceiling(Math.Log(total * (Growth - 1) / d0 + 1) / Math.Log(Growth))
            : k + Math.Ceiling((total - geometric) / max);
        return (int)Math.Clamp(n, 8, int.MaxValue / 2);
    }

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task RunAsync(string alias)
    {
        TaskCompletionSource? wake;
        lock (_lock) wake = _running[alias];
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                lock (_lock)
                {
                    // A kick from now on wakes the wait below; one that came before is already in this pass.
                    wake = _running[alias] = NewWake();
                }
                var window = _probing.ContainsKey(alias) ? 1 : _options.SendWindow;
                var jobs = await _store.TransactAsync(tx => tx.NextJobs(alias, window), _stopping).ConfigureAwait(false);
                if (jobs.Count == 0)
                {
                    _probing.TryRemove(alias, out _);
                    lock (_lock)
                    {
                        if (wake.Task.IsCompleted) continue;
                        _running.Remove(alias);
                        wake = null;
                        return;
                    }
                }
                var job = jobs[0];
                JobOutcome outcome;
                try
                {
                    outcome = _windows.TryGetValue(job.Kind, out var windowed)
                        ? await ExecuteWindowAsync(alias, [.. jobs.TakeWhile(j => _windows.GetValueOrDefault(j.Kind) == windowed)], windowed).ConfigureAwait(false)
                        : await ExecuteAsync(job).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
                {
                    // Even reporting the failure failed (the store?): wait and try the job again.
                    _log.LogError(e, "job {Kind} could not be handled", job.Kind);
                    outcome = JobOutcome.Retry;
                }
                if (outcome == JobOutcome.Retry)
                    await Task.WhenAny(Task.Delay(DelayBeforeRetry(job), _stopping), wake.Task).ConfigureAwait(false);
            }
        }
        finally
        {
            // Ended by the agent stopping or a store failure: give up the alias, unless a new runner has it already.
            lock (_lock)
            {
                if (wake is not null && _running.TryGetValue(alias, out var current) && current == wake) _running.Remove(alias);
            }
        }
    }

    /// <summary>
    /// Runs a window; its first unfinished job goes through the catch ladder of <see cref="ExecuteAsync(JobRecord)"/>.
    /// A failure that is retried makes the alias probe (window 1) until a job succeeds.
    /// </summary>
    private async Task<JobOutcome> ExecuteWindowAsync(string alias, List<JobRecord> jobs, WindowHandler handler)
    {
        WindowResult result;
        try
        {
            result = await handler.RunAsync(jobs, _stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
        {
            result = new WindowResult(0, e);
        }
        if (result.Done > 0 && _probing.TryGetValue(alias, out var untilDrained) && !untilDrained) _probing.TryRemove(alias, out _);
        if (result.Failure is null) return JobOutcome.Done;
        var failure = result.Failure;
        var outcome = await ExecuteAsync(jobs[result.Done], () => Task.FromException<JobOutcome>(failure)).ConfigureAwait(false);
        if (outcome == JobOutcome.Retry)
        {
            var quota = failure is SmpClientException { Error: { Kind: SmpClientErrorKind.Smp, SmpError: SmpErrorCode.Quota } };
            _probing.AddOrUpdate(alias, quota, (_, before) => before || quota);
        }
        return outcome;
    }

    private TimeSpan DelayBeforeRetry(JobRecord job) =>
        _handlers.TryGetValue(job.Kind, out var h) && h.RetryDelay is { } delay ? delay(job.Attempts) : RetryDelay(job.Attempts);

    private async Task<JobOutcome> ExecuteAsync(JobRecord job)
    {
        if (!_handlers.TryGetValue(job.Kind, out var handler))
        {
            _log.LogError("unknown job kind {Kind}; dropped", job.Kind);
            await _store.TransactAsync(tx => tx.DeleteJob(job.Id)).ConfigureAwait(false);
            return JobOutcome.Failed;
        }
        return await ExecuteAsync(job, () => handler.RunAsync(job, _stopping)).ConfigureAwait(false);
    }

    /// <summary>The one catch ladder: what a job's failure means for it.</summary>
    private async Task<JobOutcome> ExecuteAsync(JobRecord job, Func<Task<JobOutcome>> run)
    {
        try
        {
            return await run().ConfigureAwait(false);
        }
        catch (SmpClientException e) when (SmpErrorPolicy.IsPassing(e.Error))
        {
            await CountAttemptAsync(job).ConfigureAwait(false);
            _log.LogDebug("job {Kind} waits to be tried again: {Error}", job.Kind, e.Error);
            return JobOutcome.Retry;
        }
        catch (SmpClientException e)
        {
            await FailAsync(job, e.Error.ToAgentError()).ConfigureAwait(false);
            return JobOutcome.Failed;
        }
        catch (Exception e) when (e is not OperationCanceledException and not ObjectDisposedException)
        {
            _log.LogError(e, "job {Kind} failed", job.Kind);
            if (_faults.AddOrUpdate(job.Id, 1, (_, n) => n + 1) > MaxFaultAttempts)
            {
                _faults.TryRemove(job.Id, out _);
                await FailAsync(job, AgentError.Internal(e.GetType().Name)).ConfigureAwait(false);
                return JobOutcome.Failed;
            }
            await CountAttemptAsync(job).ConfigureAwait(false);
            return JobOutcome.Retry;
        }
    }

    /// <summary>The job waits for another attempt: counted in the store (its back-off) and in the metrics.</summary>
    public async Task CountAttemptAsync(JobRecord job)
    {
        await _store.TransactAsync(tx => tx.CountJobAttempt(job.Id)).ConfigureAwait(false);
        _counters.CountRetry();
    }

    /// <summary>
    /// Drops a job that failed for good: its kind's handler says what else changes, and the command's client
    /// hears of it with the command's corrId, under the connection's alias or its owner's (a group's), unless
    /// the owner told it in its own terms.
    /// </summary>
    public async Task FailAsync(JobRecord job, AgentError error)
    {
        _log.LogInformation("job {Kind} failed: {Error}", job.Kind, error);
        var fx = new Effects();
        await _store.TransactAsync(tx =>
        {
            var errorAlias = tx.ErrorAlias(job.Alias);
            tx.DeleteJob(job.Id);
            var told = _handlers.TryGetValue(job.Kind, out var handler) && handler.OnFailed is { } onFailed && onFailed(tx, job, fx);
            if (told) return;
            tx.InsertEvent(errorAlias, job.CorrId, AgentWire.Err(error));
            fx.Dispatch.Add(errorAlias);
        }).ConfigureAwait(false);
        await RunEffectsAsync(fx).ConfigureAwait(false);
    }

    /// <summary>What a committed transaction asked for: routing first, then the runners to wake.</summary>
    public async Task RunEffectsAsync(Effects fx)
    {
        await _router.RunAsync(fx).ConfigureAwait(false);
        KickAll(fx.Kick);
    }
}
