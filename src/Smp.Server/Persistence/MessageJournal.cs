using System.Buffers;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Smp.Server.Persistence;

/// <summary>
/// Makes every message answered with OK survive a restart or a crash (docs/protocol/smp.md §9).
/// Accepted SENDs and ACKs are appended to <c>messages.N.journal</c>; compaction starts generation N+1
/// (new records go there at once) and then writes every live message to <c>messages.N+1.snapshot</c>,
/// so appends never wait for it. Replay loads the newest snapshot and applies the journals of its
/// generation and later; a MSG seen twice is kept once, and an ACK of an unknown message is a no-op.
/// </summary>
internal sealed class MessageJournal : IDisposable
{
    private const string Prefix = "messages.";
    private const string JournalSuffix = ".journal";
    private const string SnapshotSuffix = ".snapshot";

    /// <summary>Compaction waits for at least this many records since the last one.</summary>
    public const long MinRecordsBeforeCompaction = 10_000;

    private readonly string _directory;
    private readonly bool _fsync;
    private readonly QueueStore _store;
    private readonly ILogger _logger;
    private readonly Lock _writeLock = new();
    private readonly Lock _compactLock = new();
    private AppendOnlyFile? _file;
    private long _generation;
    private long _recordsSinceCompaction;

    private MessageJournal(string directory, bool fsync, QueueStore store, ILogger logger)
    {
        _directory = directory;
        _fsync = fsync;
        _store = store;
        _logger = logger;
    }

    public long RecordsSinceCompaction => Interlocked.Read(ref _recordsSinceCompaction);

    /// <summary>Bytes in the current generation's journal file.</summary>
    public long Size => Volatile.Read(ref _file)?.Length ?? 0;

    /// <summary>True when the directory holds a journal or snapshot: messages of queues a server key made now would orphan.</summary>
    public static bool ExistsIn(string directory) =>
        Generations(directory, JournalSuffix).Count > 0 || Generations(directory, SnapshotSuffix).Count > 0;

    /// <summary>
    /// Replays snapshot and journals into the queues of <paramref name="store"/>, dropping expired messages
    /// and recording in <paramref name="damage"/> what it cannot use. Nothing is written or deleted but the
    /// leftovers of an interrupted compaction; <see cref="Compact(StartupDamage)"/> comes next.
    /// </summary>
    public static MessageJournal Load(string directory, bool fsync, QueueStore store, DateTimeOffset expiredBefore, StartupDamage damage, ILogger logger)
    {
        var journal = new MessageJournal(directory, fsync, store, logger);
        foreach (var tmp in Directory.EnumerateFiles(directory, Prefix + "*.tmp")) File.Delete(tmp);
        var snapshots = Generations(directory, SnapshotSuffix);
        var journals = Generations(directory, JournalSuffix);
        var from = snapshots.Count > 0 ? snapshots[^1] : 0;
        if (snapshots.Count > 0) journal.Replay(SnapshotPath(directory, from), expiredBefore, damage);
        foreach (var g in journals.Where(g => g >= from)) journal.Replay(JournalPath(directory, g), expiredBefore, damage);
        journal._generation = Math.Max(from, journals.Count > 0 ? journals[^1] : 0);
        return journal;
    }

    private static string JournalPath(string dir, long g) => Path.Combine(dir, Prefix + g.ToString(CultureInfo.InvariantCulture) + JournalSuffix);

    private static string SnapshotPath(string dir, long g) => Path.Combine(dir, Prefix + g.ToString(CultureInfo.InvariantCulture) + SnapshotSuffix);

    private static List<long> Generations(string directory, string suffix)
    {
        var list = new List<long>();
        foreach (var path in Directory.EnumerateFiles(directory, Prefix + "*" + suffix))
        {
            var name = Path.GetFileName(path);
            var middle = name[Prefix.Length..^suffix.Length];
            if (long.TryParse(middle, NumberStyles.None, CultureInfo.InvariantCulture, out var g)) list.Add(g);
        }
        list.Sort();
        return list;
    }

    private void Replay(string path, DateTimeOffset expiredBefore, StartupDamage damage)
    {
        LineFiles.ForEachLine(path, (line, number, end) =>
        {
            if (end == LineEnd.TooLong || !JournalFormat.TryParse(line, out var r))
            {
                // A cut-off last line is a write a crash interrupted: its SEND or ACK was never answered.
                if (end == LineEnd.Eof) damage.Torn(path);
                else
                {
                    damage.Unreadable(path, number);
                    if (JournalFormat.LooksLikeMessage(line)) damage.UnreadableMessage(path);
                }
                return;
            }
            if (_store.FindByRecipient(r.RecipientId) is not { } q)
            {
                // Deleted queues leave their messages behind until the next compaction; any other queue is lost.
                if (_store.IsKnown(r.RecipientId)) return;
                if (r.Op == JournalOp.Ack) damage.OrphanAck(r.RecipientId, r.MsgId);
                else damage.OrphanMessage(path, r.RecipientId, r.MsgId, expired: r.Timestamp < expiredBefore);
                return;
            }
            if (r.Op == JournalOp.Ack) q.Remove(r.MsgId);
            else if (r.Timestamp >= expiredBefore && !q.Contains(r.MsgId)) q.Enqueue(new StoredMessage(r.MsgId, r.Timestamp, r.Body!));
        });
    }

    /// <summary>Records an accepted message; the caller holds the queue lock and answers OK only after this returns.</summary>
    public void AppendMessage(QueueRecord q, StoredMessage m) =>
        Append(new JournalRecord(JournalOp.Msg, q.RecipientId, m.Id, m.Timestamp, m.Body));

    /// <summary>Records an ACKed (deleted) message; the caller holds the queue lock.</summary>
    public void AppendAck(QueueRecord q, StoredMessage m) =>
        Append(new JournalRecord(JournalOp.Ack, q.RecipientId, m.Id));

    /// <summary>Records are formatted per thread outside the write lock, into a buffer each thread reuses.</summary>
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_record;

    private void Append(in JournalRecord r)
    {
        var record = t_record ??= new ArrayBufferWriter<byte>(8192);
        record.ResetWrittenCount();
        JournalFormat.Write(record, r);
        lock (_writeLock)
        {
            // Returns once the OS has the record (AppendOnlyFile has no managed buffer), as OK requires.
            (_file ?? throw new ObjectDisposedException(nameof(MessageJournal))).Append(record.WrittenSpan);
        }
        Interlocked.Increment(ref _recordsSinceCompaction);
    }

    /// <summary>Compacts when the journal holds many more records than there are live messages.</summary>
    public bool CompactIfWorthwhile(long liveMessages)
    {
        if (RecordsSinceCompaction < Math.Max(MinRecordsBeforeCompaction, 2 * liveMessages)) return false;
        Compact();
        return true;
    }

    /// <summary>Starts a new generation, then snapshots every live message and removes older files.</summary>
    public void Compact() => Compact(null);

    /// <summary>
    /// As <see cref="Compact()"/>; at start, the older files that <paramref name="damage"/> found
    /// something unusable in are renamed aside instead of deleted, once the new snapshot is durable.
    /// </summary>
    public void Compact(StartupDamage? damage)
    {
        lock (_compactLock)
        {
            long generation;
            lock (_writeLock)
            {
                generation = _generation + 1;
                var next = new AppendOnlyFile(JournalPath(_directory, generation), _fsync);
                _file?.Dispose();
                _file = next;
                _generation = generation;
                Interlocked.Exchange(ref _recordsSinceCompaction, 0);
            }
            var live = 0L;
            AppendOnlyFile.ReplaceAtomically(SnapshotPath(_directory, generation), f =>
            {
                foreach (var q in _store.Queues)
                {
                    StoredMessage[] messages;
                    lock (q)
                    {
                        if (q.Deleted) continue;
                        messages = q.SnapshotMessages();
                    }
                    foreach (var m in messages) f.Write(JournalFormat.ToBytes(new JournalRecord(JournalOp.Msg, q.RecipientId, m.Id, m.Timestamp, m.Body)));
                    live += messages.Length;
                }
            });
            var older = Generations(_directory, JournalSuffix).Where(g => g < generation).Select(g => JournalPath(_directory, g))
                .Concat(Generations(_directory, SnapshotSuffix).Where(g => g < generation).Select(g => SnapshotPath(_directory, g)));
            foreach (var path in older.ToList())
            {
                if (damage?.MustKeepAside(path) == true) damage.KeepAside(path, copy: false);
                else File.Delete(path);
            }
            _logger.LogDebug("message journal compacted to generation {Generation}: {Live} live message(s)", generation, live);
        }
    }

    /// <summary>For tests: the current journal from now on goes through a stream of the test's making (one that fails, say).</summary>
    internal void ReopenForTests(Func<string, Stream> open)
    {
        lock (_writeLock)
        {
            var path = JournalPath(_directory, _generation);
            _file!.Dispose();
            _file = new AppendOnlyFile(open(path), path, _fsync);
        }
    }

    public void Dispose()
    {
        lock (_writeLock)
        {
            _file?.Dispose();
            _file = null;
        }
    }
}
