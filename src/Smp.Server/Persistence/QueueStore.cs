using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Smp.Server.Persistence;

/// <summary>
/// All queues, indexed by recipient and by sender id, and their persistence: the store log in the
/// reference's format and our suspension log (docs/protocol/smp.md §8). Records are appended only after
/// the change they describe has been checked; both files are replayed and compacted when opened.
/// </summary>
internal sealed class QueueStore : IDisposable
{
    public const string StoreLogName = "smp-server-store.log";
    public const string SuspendLogName = "smp-server-suspended.log";
    public const int QueueIdBytes = 12;

    private readonly ConcurrentDictionary<byte[], QueueRecord> _byRecipient = new(ByteArrayComparer.Instance);
    private readonly ConcurrentDictionary<byte[], QueueRecord> _bySender = new(ByteArrayComparer.Instance);
    private AppendOnlyFile? _storeLog;
    private AppendOnlyFile? _suspendLog;

    public int Count => _byRecipient.Count;

    public IEnumerable<QueueRecord> Queues => _byRecipient.Values;

    public QueueRecord? FindByRecipient(byte[] rid) => _byRecipient.TryGetValue(rid, out var q) ? q : null;

    public QueueRecord? FindBySender(byte[] sid) => _bySender.TryGetValue(sid, out var q) ? q : null;

    /// <summary>Replays and compacts both logs in <paramref name="directory"/>, then opens them for appending.</summary>
    public static QueueStore Open(string directory, bool fsync, ILogger logger)
    {
        var store = new QueueStore();
        var storePath = Path.Combine(directory, StoreLogName);
        var suspendPath = Path.Combine(directory, SuspendLogName);
        store.Replay(storePath, logger);
        store.Replay(suspendPath, logger);
        var queues = store._byRecipient.Values.OrderBy(q => q.RecipientId, ByteArrayComparer.Instance).ToList();
        AppendOnlyFile.ReplaceAtomically(storePath, f =>
        {
            foreach (var q in queues)
                f.Write(StoreLogFormat.ToBytes(new StoreLogRecord(StoreLogOp.Create, q.RecipientId, q.SenderId, q.RecipientKey, q.SenderKey)));
        });
        AppendOnlyFile.ReplaceAtomically(suspendPath, f =>
        {
            foreach (var q in queues.Where(q => q.Suspended)) f.Write(StoreLogFormat.ToBytes(new StoreLogRecord(StoreLogOp.Off, q.RecipientId)));
        });
        store._storeLog = new AppendOnlyFile(storePath, fsync);
        store._suspendLog = new AppendOnlyFile(suspendPath, fsync);
        return store;
    }

    private void Replay(string path, ILogger logger)
    {
        if (!File.Exists(path)) return;
        var skipped = 0;
        LineFiles.ForEachLine(path, (line, number, terminated) =>
        {
            if (line.IsEmpty && terminated) return;
            if (!StoreLogFormat.TryParse(line, out var r))
            {
                // The line itself may hold ids and keys: only its number is logged.
                logger.LogWarning("{File} line {Line}: malformed record skipped", Path.GetFileName(path), number);
                skipped++;
                return;
            }
            Apply(r);
        });
        if (skipped > 0) logger.LogWarning("{File}: {Count} malformed record(s) skipped", Path.GetFileName(path), skipped);
    }

    private void Apply(in StoreLogRecord r)
    {
        switch (r.Op)
        {
            case StoreLogOp.Create:
                if (_byRecipient.TryRemove(r.RecipientId, out var old)) _bySender.TryRemove(old.SenderId, out _);
                if (_bySender.ContainsKey(r.SenderId!)) return;
                var q = new QueueRecord(r.RecipientId, r.SenderId!, r.RecipientKey!, r.SenderKey);
                _byRecipient[q.RecipientId] = q;
                _bySender[q.SenderId] = q;
                break;
            case StoreLogOp.Secure:
                if (_byRecipient.TryGetValue(r.RecipientId, out var s)) s.SenderKey = r.SenderKey;
                break;
            case StoreLogOp.Delete:
                if (_byRecipient.TryRemove(r.RecipientId, out var d)) _bySender.TryRemove(d.SenderId, out _);
                break;
            case StoreLogOp.Off:
                if (_byRecipient.TryGetValue(r.RecipientId, out var o)) o.Suspended = true;
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
