using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Smp.Agent.Store;

namespace Smp.Agent.Runtime;

/// <summary>
/// A key that has really been generated, with its PKCS#8 form and its <c>key_pool</c> row (0: made on
/// demand, never stored).
/// </summary>
internal sealed class PoolKey(long id, int bits, RSA key, byte[] pkcs8) : IDisposable
{
    public long Id { get; } = id;
    public int Bits { get; } = bits;
    public RSA Key { get; } = key;
    public byte[] Pkcs8 { get; } = pkcs8;

    public void Dispose() => Key.Dispose();
}

/// <summary>Thrown inside a transaction that needs a key while the pool has none ready; see <see cref="KeyPool.TransactAsync{T}"/>.</summary>
internal sealed class KeyPoolEmptyException(int bits) : Exception($"no {bits}-bit key ready")
{
    public int Bits { get; } = bits;
}

/// <summary>
/// RSA keys generated ahead of use (agent.md, "Key pool"). RSA-2048 generation costs 0.1–0.5 s of CPU and a
/// connection needs 4 keys on each side, so setup takes keys that exist already. <c>RSA.Create(bits)</c>
/// generates lazily, so a key is exported once here, which makes it. One below-normal thread refills the
/// pool after takes, never a thread-pool thread. Every key is stored in <c>key_pool</c> before it is
/// handed out, so a restarted agent has its pool at once.
/// <para>
/// A key is used once, also across a crash: its row is deleted in the transaction that stores it in a
/// queue record (<see cref="KeyLease"/>), or, for a key that reaches a server before that transaction,
/// before it is sent (<see cref="ClaimAsync"/>). A key taken in a transaction that rolls back keeps its row
/// and goes back to the pool. Nothing here runs generation while holding the store gate.
/// </para>
/// </summary>
internal sealed class KeyPool : IDisposable
{
    private readonly AgentStore _store;
    private readonly ILogger _log;
    private readonly IReadOnlyDictionary<int, int> _targets;
    /// <summary>
    /// Refill waits until no key was taken for this long: a connection takes its keys in two bursts tens of
    /// milliseconds apart, and generating between them would slow the setup it is meant to speed up.
    /// </summary>
    public static readonly TimeSpan IdleBeforeRefill = TimeSpan.FromMilliseconds(250);

    private readonly Lock _lock = new();
    private readonly Dictionary<int, Queue<PoolKey>> _ready = [];
    private readonly AutoResetEvent _wake = new(false);
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _full = NewFull();
    private long _lastTake;
    private Thread? _filler;
    private long _generatedAhead;
    private long _generatedOnDemand;
    private long _used;
    private int _loaded;

    private KeyPool(AgentStore store, IReadOnlyDictionary<int, int> targets, ILogger log)
    {
        _store = store;
        _targets = targets;
        _log = log;
        foreach (var bits in targets.Keys) _ready[bits] = new Queue<PoolKey>();
    }

    /// <summary>How many keys of each size are kept ready: the signing size and the 2048-bit end-to-end size.</summary>
    public static Dictionary<int, int> Targets(int keyBits, int e2eBits, int size) => keyBits == e2eBits
        ? new() { [keyBits] = size }
        // The end-to-end key is one of a queue's 3–4 keys (agent.md, "Key pool").
        : new() { [keyBits] = size, [e2eBits] = size == 0 ? 0 : Math.Max(1, size / 2) };

    /// <summary>Loads the stored keys, then starts the refill thread if any size has a target.</summary>
    public static async Task<KeyPool> OpenAsync(AgentStore store, IReadOnlyDictionary<int, int> targets, ILogger log)
    {
        var pool = new KeyPool(store, targets, log);
        // Keys of a size this agent no longer uses would wait for ever: they were never used, so they just go.
        var rows = await store.TransactAsync(tx =>
        {
            tx.DeletePoolKeysExcept([.. targets.Keys]);
            return tx.ListPoolKeys();
        }).ConfigureAwait(false);
        foreach (var (id, bits, pkcs8) in rows)
        {
            var key = RSA.Create();
            key.ImportPkcs8PrivateKey(pkcs8, out _);
            pool._ready[bits].Enqueue(new PoolKey(id, bits, key, pkcs8));
        }
        pool._loaded = rows.Count;
        if (targets.Values.Any(n => n > 0))
        {
            pool._filler = new Thread(pool.Fill) { Name = "key pool", IsBackground = true, Priority = ThreadPriority.BelowNormal };
            pool._filler.Start();
        }
        else
        {
            pool._full.TrySetResult();
        }
        return pool;
    }

    /// <summary>Keys read from the store at start.</summary>
    public int Loaded => _loaded;

    /// <summary>Keys the refill thread made.</summary>
    public long GeneratedAhead => Interlocked.Read(ref _generatedAhead);

    /// <summary>Keys made on the spot because none was ready (the pool was empty or is off).</summary>
    public long GeneratedOnDemand => Interlocked.Read(ref _generatedOnDemand);

    /// <summary>Keys that went into queues (or to a server): what connections and groups consume (agent.md, "Key pool").</summary>
    public long Used => Interlocked.Read(ref _used);

    internal void CountUsed(int n) => Interlocked.Add(ref _used, n);

    public int Ready(int bits)
    {
        lock (_lock) return _ready.TryGetValue(bits, out var q) ? q.Count : 0;
    }

    /// <summary>Completes when every size holds its target (at once with pool size 0).</summary>
    public Task WhenFullAsync()
    {
        lock (_lock) return _full.Task;
    }

    /// <summary>A ready key, or null; never generates.</summary>
    public PoolKey? TryTakeReady(int bits)
    {
        PoolKey? key = null;
        lock (_lock)
        {
            if (_ready.TryGetValue(bits, out var q) && q.Count > 0)
            {
                key = q.Dequeue();
                _lastTake = Stopwatch.GetTimestamp();
                if (_full.Task.IsCompleted) _full = NewFull();
            }
        }
        if (key is not null) _wake.Set();
        return key;
    }

    /// <summary>A ready key or, when there is none, one made now on the calling thread. Call it outside any transaction.</summary>
    public PoolKey Take(int bits) => TryTakeReady(bits) ?? Generate(bits);

    /// <summary>Makes a key now; not stored: it is used in the transaction it was made for, or kept in memory.</summary>
    public PoolKey Generate(int bits)
    {
        lock (_lock) _lastTake = Stopwatch.GetTimestamp();
        var (key, pkcs8) = NewKey(bits);
        Interlocked.Increment(ref _generatedOnDemand);
        return new PoolKey(0, bits, key, pkcs8);
    }

    /// <summary>A key that was not used goes back (its row, if any, is still there).</summary>
    public void Return(PoolKey key)
    {
        lock (_lock)
        {
            if (_ready.TryGetValue(key.Bits, out var q))
            {
                q.Enqueue(key);
                return;
            }
        }
        key.Dispose();
    }

    /// <summary>
    /// Keys that leave the pool for good before use, rows deleted now: for a recipient key, which the server
    /// sees before the queue record is stored. A crash then loses these keys; it cannot hand them out again.
    /// </summary>
    public async Task<PoolKey[]> ClaimAsync(params int[] bits)
    {
        var keys = bits.Select(Take).ToArray();
        try
        {
            if (keys.Any(k => k.Id != 0))
                await _store.TransactAsync(tx => { foreach (var k in keys) Spend(tx, k); }).ConfigureAwait(false);
            CountUsed(keys.Length);
            return keys;
        }
        catch
        {
            foreach (var k in keys) Return(k);
            throw;
        }
    }

    /// <summary>Deletes a taken key's row in <paramref name="tx"/>: from its commit on, the key is used.</summary>
    internal static void Spend(StoreTx tx, PoolKey key)
    {
        if (key.Id != 0 && !tx.DeletePoolKey(key.Id))
            throw new InvalidOperationException($"pool key {key.Id} was taken twice");
    }

    /// <summary>
    /// Runs <paramref name="work"/> in a transaction whose keys come from a <see cref="KeyLease"/>:
    /// if the pool runs short inside it, the transaction rolls back, a key is made outside the store gate and
    /// the work runs again (it must be a function of the store, as every transaction body is).
    /// </summary>
    public async Task<T> TransactAsync<T>(Func<StoreTx, KeyLease, T> work, CancellationToken ct = default)
    {
        using var lease = new KeyLease(this);
        while (true)
        {
            try
            {
                var result = await _store.TransactAsync(tx => work(tx, lease), ct).ConfigureAwait(false);
                lease.Committed();
                return result;
            }
            catch (KeyPoolEmptyException e)
            {
                lease.RolledBack();
                lease.Reserve(Generate(e.Bits));
            }
            catch
            {
                lease.RolledBack();
                throw;
            }
        }
    }

    private static (RSA Key, byte[] Pkcs8) NewKey(int bits)
    {
        var key = RSA.Create(bits);
        // The export generates the key: RSA.Create(bits) alone defers that to first use.
        return (key, key.ExportPkcs8PrivateKey());
    }

    private static TaskCompletionSource NewFull() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int? Neediest()
    {
        lock (_lock)
        {
            foreach (var (bits, target) in _targets)
                if (_ready[bits].Count < target) return bits;
            _full.TrySetResult();
            return null;
        }
    }

    private void Fill()
    {
        RefillThreadId = LowerThreadPriority();
        var stop = _stop.Token;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                if (Neediest() is not { } bits)
                {
                    WaitHandle.WaitAny([_wake, stop.WaitHandle]);
                    continue;
                }
                long lastTake;
                lock (_lock) lastTake = _lastTake;
                var busy = IdleBeforeRefill - Stopwatch.GetElapsedTime(lastTake);
                if (busy > TimeSpan.Zero)
                {
                    stop.WaitHandle.WaitOne(busy);
                    continue;
                }
                var (key, pkcs8) = NewKey(bits);
                if (stop.IsCancellationRequested)
                {
                    key.Dispose();
                    return;
                }
                // A dedicated thread may block: only the short insert holds the store gate, never the generation.
                var id = _store.TransactAsync(tx => tx.InsertPoolKey(bits, pkcs8), stop).GetAwaiter().GetResult();
                Interlocked.Increment(ref _generatedAhead);
                lock (_lock) _ready[bits].Enqueue(new PoolKey(id, bits, key, pkcs8));
            }
        }
        catch (Exception e) when (stop.IsCancellationRequested && e is OperationCanceledException or ObjectDisposedException)
        {
        }
        catch (Exception e)
        {
            // Takes still work without the thread: they generate on demand.
            _log.LogError(e, "the key pool stopped refilling; keys are generated on demand from now on");
        }
    }

    /// <summary>
    /// Linux ignores <see cref="Thread.Priority"/> (dotnet/runtime#91165); a nice value of 10 makes the refill
    /// yield to the agent's own work for real. Lowering needs no privilege; a failure just leaves it normal.
    /// </summary>
    private static int LowerThreadPriority()
    {
        if (!OperatingSystem.IsLinux()) return 0;
        try
        {
            var tid = LinuxThreads.gettid();
            _ = LinuxThreads.setpriority(LinuxThreads.PrioProcess, tid, 10);
            return tid;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return 0;
        }
    }

    /// <summary>The refill thread's Linux thread id once it runs (0 elsewhere), for a look at its nice value.</summary>
    internal int RefillThreadId { get; private set; }

    /// <summary>Stops the refill thread (waiting for a key being made) before the store closes; stored keys stay for the next start.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _filler?.Join();
        lock (_lock)
        {
            foreach (var q in _ready.Values)
                while (q.TryDequeue(out var key)) key.Dispose();
        }
        _wake.Dispose();
        _stop.Dispose();
    }
}

/// <summary>
/// The keys one transaction takes from the pool (see <see cref="KeyPool.TransactAsync{T}"/>): never generated
/// inside it. Taken keys are spent when it commits and come back when it rolls back.
/// </summary>
internal sealed class KeyLease(KeyPool pool) : IDisposable
{
    private readonly List<PoolKey> _reserved = [];
    private readonly List<PoolKey> _taken = [];

    /// <summary>A key for a record stored in <paramref name="tx"/>; its row goes in the same transaction.</summary>
    public PoolKey Take(StoreTx tx, int bits)
    {
        var i = _reserved.FindIndex(k => k.Bits == bits);
        PoolKey? key;
        if (i >= 0)
        {
            key = _reserved[i];
            _reserved.RemoveAt(i);
        }
        else
        {
            key = pool.TryTakeReady(bits) ?? throw new KeyPoolEmptyException(bits);
        }
        _taken.Add(key);
        KeyPool.Spend(tx, key);
        return key;
    }

    internal void Reserve(PoolKey key) => _reserved.Add(key);

    internal void Committed()
    {
        pool.CountUsed(_taken.Count);
        foreach (var k in _taken) k.Dispose();
        _taken.Clear();
    }

    /// <summary>The rollback restored their rows: the keys are as good as before, for the next try.</summary>
    internal void RolledBack()
    {
        _reserved.AddRange(_taken);
        _taken.Clear();
    }

    public void Dispose()
    {
        RolledBack();
        foreach (var k in _reserved) pool.Return(k);
        _reserved.Clear();
    }
}

/// <summary>The two libc calls that give one thread a nice value (setpriority(2) with a thread id).</summary>
internal static class LinuxThreads
{
    public const int PrioProcess = 0;

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    public static extern int setpriority(int which, int who, int prio);

    [System.Runtime.InteropServices.DllImport("libc")]
    public static extern int gettid();
}
