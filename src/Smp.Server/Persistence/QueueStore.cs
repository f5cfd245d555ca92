using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Smp.Server.Persistence;

/// <summary>
/// All queues, indexed by recipient and by sender id, and their persistence: the store log in the
/// reference's format and our suspension log (docs/protocol/smp.md §8). Records are appended only after
/// the change they describe has been checked; both files are replayed when loaded and compacted, after
/// the journal's replay, when opened for appending.
/// </summary>
internal sealed class QueueStore : IDisposable
{
    public const string StoreLogName = "smp-server-store.log";
    public const string SuspendLogName = "smp-server-suspended.log";
    public const int QueueIdBytes = 12;

    private readonly ConcurrentDictionary<byte[], QueueRecord> _byRecipient = new(ByteArrayComparer.Instance);
    private readonly ConcurrentDictionary<byte[], QueueRecord> _bySender = new(ByteArrayComparer.Instance);
    private readonly string _storePath;
    private readonly string _suspendPath;
    private AppendOnlyFile? _storeLog;
    private AppendOnlyFile? _suspendLog;

    /// <summary>RIDs a replayed DELETE removed: their messages may still be in the journal. Dropped once compacted.</summary>
    private HashSet<byte[]>? _deletedAtReplay = new(ByteArrayComparer.Instance);

    public int Count => _byRecipient.Count;

    public IEnumerable<QueueRecord> Queues => _byRecipient.Values;

    public QueueRecord? FindByRecipient(byte[] rid) => _byRecipient.TryGetValue(rid, out var q) ? q : null;

    public QueueRecord? FindBySender(byte[] sid) => _bySender.TryGetValue(sid, out var q) ? q : null;

    private QueueStore(string directory)
    {
        _storePath = Path.Combine(directory, StoreLogName);
        _suspendPath = Path.Combine(directory, SuspendLogName);
    }

    /// <summary>True when the directory holds queues, or once did: a server key made now would orphan them.</summary>
    public static bool ExistsIn(string directory) =>
        File.Exists(Path.Combine(directory, StoreLogName)) || File.Exists(Path.Combine(directory, SuspendLogName));

    /// <summary>Replays both logs in <paramref name="directory"/>, recording in <paramref name="damage"/> what it cannot use. Nothing is written.</summary>
    public static QueueStore Load(string directory, StartupDamage damage)
    {
        var store = new QueueStore(directory);
        store.Replay(store._storePath, damage, suspensions: false);
        store.Replay(store._suspendPath, damage, suspensions: true);
        return store;
    }

    /// <summary>During start-up: the queue is in the store, or the replayed store log deleted it.</summary>
    public bool IsKnown(byte[] rid) => _byRecipient.ContainsKey(rid) || _deletedAtReplay?.Contains(rid) == true;

    /// <summary>
    /// Keeps aside a log that had something unreadable or lost queues, then rewrites both logs compactly
    /// (docs/protocol/smp.md §8) and opens them for appending. Called after the journal was replayed, so
    /// that what the journal says about lost queues is known.
    /// </summary>
    public void CompactAndOpen(bool fsync, StartupDamage damage)
    {
        damage.LostQueuesIn(_storePath);
        foreach (var path in new[] { _storePath, _suspendPath })
            if (damage.MustKeepAside(path) && File.Exists(path)) damage.KeepAside(path, copy: true);
        var queues = _byRecipient.Values.OrderBy(q => q.RecipientId, ByteArrayComparer.Instance).ToList();
        AppendOnlyFile.ReplaceAtomically(_storePath, f =>
        {
            foreach (var q in queues)
                f.Write(StoreLogFormat.ToBytes(new StoreLogRecord(StoreLogOp.Create, q.RecipientId, q.SenderId, q.RecipientKey, q.SenderKey)));
        });
        AppendOnlyFile.ReplaceAtomically(_suspendPath, f =>
        {
            foreach (var q in queues.Where(q => q.Suspended)) f.Write(StoreLogFormat.ToBytes(new StoreLogRecord(StoreLogOp.Off, q.RecipientId)));
        });
        _deletedAtReplay = null;
        _storeLog = new AppendOnlyFile(_storePath, fsync);
        _suspendLog = new AppendOnlyFile(_suspendPath, fsync);
    }

    private void Replay(string path, StartupDamage damage, bool suspensions)
    {
        if (!File.Exists(path)) return;
        LineFiles.ForEachLine(path, (line, number, end) =>
        {
            if (line.IsEmpty && end == LineEnd.Lf) return;
            if (end != LineEnd.TooLong && StoreLogFormat.TryParse(line, out var r))
            {
                Apply(r, path, number, damage);
                return;
            }
            // The line itself may hold ids and keys: only its number is ever told.
            if (end == LineEnd.Eof)
            {
                // A cut-off last line is a record whose write a crash interrupted: it was never answered.
                damage.Torn(path);
                return;
            }
            damage.Unreadable(path, number);
            if (!suspensions && StoreLogFormat.LooksLikeCreate(line, out var rid)) damage.UnreadableCreate(rid);
        });
    }

    private void Apply(in StoreLogRecord r, string path, long line, StartupDamage damage)
    {
        switch (r.Op)
        {
            case StoreLogOp.Create:
                if (_byRecipient.TryRemove(r.RecipientId, out var old)) _bySender.TryRemove(old.SenderId, out _);
                if (_bySender.ContainsKey(r.SenderId!))
                {
                    // Another queue has this sender id: one of the two records is damaged, and this one cannot be used.
                    damage.Unreadable(path, line);
                    damage.UnreadableCreate(r.RecipientId);
                    return;
                }
                var q = new QueueRecord(r.RecipientId, r.SenderId!, r.RecipientKey!, r.SenderKey);
                _byRecipient[q.RecipientId] = q;
                _bySender[q.SenderId] = q;
                _deletedAtReplay?.Remove(r.RecipientId);
                break;
            case StoreLogOp.Secure:
                if (_byRecipient.TryGetValue(r.RecipientId, out var s)) s.SenderKey = r.SenderKey;
                else if (!IsKnown(r.RecipientId)) damage.NamesMissingQueue(path, r.RecipientId);
                break;
            case StoreLogOp.Delete:
                if (_byRecipient.TryRemove(r.RecipientId, out var d)) _bySender.TryRemove(d.SenderId, out _);
                _deletedAtReplay?.Add(r.RecipientId);
                break;
            case StoreLogOp.Off:
                if (_byRecipient.TryGetValue(r.RecipientId, out var o)) o.Suspended = true;
                else if (!IsKnown(r.RecipientId)) damage.NamesMissingQueue(path, r.RecipientId);
                break;
        }
    }

    /// <summary>NEW: random ids, indexed, then logged. Null when no free ids were found (ERR INTERNAL).</summary>
    public QueueRecord? Create(byte[] recipientKey)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var q = new QueueRecord(RandomNumberGenerator.GetBytes(QueueIdBytes), RandomNumberGenerator.GetBytes(QueueIdBytes), recipientKey, null);
            if (!_bySender.TryAdd(q.SenderId, q)) continue;
            if (!_byRecipient.TryAdd(q.RecipientId, q))
            {
                _bySender.TryRemove(q.SenderId, out _);
                continue;
            }
            try
            {
                _storeLog!.Append(StoreLogFormat.ToBytes(new StoreLogRecord(StoreLogOp.Create, q.RecipientId, q.SenderId, q.RecipientKey)));
            }
            catch
            {
                _byRecipient.TryRemove(q.RecipientId, out _);
                _bySender.TryRemove(q.SenderId, out _);
                throw;
            }
            return q;
        }
        return null;
    }

    /// <summary>KEY, already checked; the caller holds the queue lock.</summary>
    public void Secure(QueueRecord q, byte[] senderKey)
    {
        _storeLog!.Append(StoreLogFormat.ToBytes(new StoreLogRecord(StoreLogOp.Secure, q.RecipientId, SenderKey: senderKey)));
        q.SenderKey = senderKey;
    }

    /// <summary>OFF; the caller holds the queue lock. Repeats write nothing.</summary>
    public void Suspend(QueueRecord q)
    {
        if (q.Suspended) return;
        _suspendLog!.Append(StoreLogFormat.ToBytes(new StoreLogRecord(StoreLogOp.Off, q.RecipientId)));
        q.Suspended = true;
    }

    /// <summary>DEL; the caller holds the queue lock.</summary>
    public void Delete(QueueRecord q)
    {
        _storeLog!.Append(StoreLogFormat.ToBytes(new StoreLogRecord(StoreLogOp.Delete, q.RecipientId)));
        q.Deleted = true;
        _byRecipient.TryRemove(q.RecipientId, out _);
        _bySender.TryRemove(q.SenderId, out _);
    }

    /// <summary>For tests: the store log from now on goes through a stream of the test's making (one that fails, say).</summary>
    internal void ReopenStoreLogForTests(Func<string, Stream> open)
    {
        _storeLog!.Dispose();
        _storeLog = new AppendOnlyFile(open(_storePath), _storePath, fsync: false);
    }

    /// <summary>For tests that measure memory: a store without files.</summary>
    internal static QueueStore Unlogged() => new(".");

    /// <summary>For tests that measure memory: adds a queue without logging it.</summary>
    internal void AddUnlogged(QueueRecord q)
    {
        _byRecipient[q.RecipientId] = q;
        _bySender[q.SenderId] = q;
    }

    public void Dispose()
    {
        _storeLog?.Dispose();
        _suspendLog?.Dispose();
    }
}
