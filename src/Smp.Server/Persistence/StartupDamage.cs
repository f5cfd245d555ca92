using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Smp.Server.Persistence;

/// <summary>
/// What the replay of the store log, suspension log, snapshot and journals could not use, collected so
/// that nothing is rewritten before the damaged files are kept aside and the operator is told
/// (docs/protocol/smp.md §11). Owned by start-up; not used once the server runs.
/// </summary>
internal sealed class StartupDamage(TimeProvider clock)
{
    private readonly Dictionary<string, FileFindings> _files = new(StringComparer.Ordinal);
    private readonly HashSet<byte[]> _unreadableCreates = new(ByteArrayComparer.Instance);
    private readonly HashSet<byte[]> _named = new(ByteArrayComparer.Instance);
    private readonly Dictionary<byte[], Orphan> _orphans = new(ByteArrayComparer.Instance);
    private int _anonymousCreates;
    private int? _queuesLost;

    private sealed class FileFindings
    {
        public int Unreadable;
        public long FirstUnreadableLine;
        public bool Torn;
        public long UnreadableMessages;
        public long OrphanMessages;
        public bool NamesMissing;
        public bool LacksQueues;
        public long MessagesNotRestored => UnreadableMessages + OrphanMessages;
        public string? KeptAside;
    }

    private readonly record struct Orphan(string Path, byte[] RecipientId, bool Expired);

    private FileFindings For(string path)
    {
        if (!_files.TryGetValue(path, out var f)) _files[path] = f = new FileFindings();
        return f;
    }

    /// <summary>A terminated line that is no record: damage, whatever caused it.</summary>
    public void Unreadable(string path, long line)
    {
        var f = For(path);
        if (f.Unreadable++ == 0) f.FirstUnreadableLine = line;
    }

    /// <summary>A last line without LF that is no record: a write cut off by a crash, whose command was never answered.</summary>
    public void Torn(string path) => For(path).Torn = true;

    /// <summary>An unreadable line of the store log that starts as a CREATE: a queue, identified if its RID could still be read.</summary>
    public void UnreadableCreate(byte[]? recipientId)
    {
        if (recipientId is null) _anonymousCreates++;
        else _unreadableCreates.Add(recipientId);
    }

    /// <summary>An unreadable journal or snapshot line that starts as a MSG: a message lost, unless it was ACKed later (which cannot be told).</summary>
    public void UnreadableMessage(string path) => For(path).UnreadableMessages++;

    /// <summary>A SECURE or OFF record for a queue the store log does not have.</summary>
    public void NamesMissingQueue(string path, byte[] recipientId)
    {
        _named.Add(recipientId);
        For(path).NamesMissing = true;
    }

    /// <summary>A MSG for a queue that is neither in the store log nor deleted by it: its queue was lost.</summary>
    public void OrphanMessage(string path, byte[] recipientId, byte[] msgId, bool expired)
    {
        _named.Add(recipientId);
        For(path).NamesMissing = true;
        _orphans.TryAdd(Key(recipientId, msgId), new Orphan(path, recipientId, expired));
    }

    /// <summary>An ACK for a queue that is missing: the message it removes was not lost.</summary>
    public void OrphanAck(byte[] recipientId, byte[] msgId) => _orphans.Remove(Key(recipientId, msgId));

    private static byte[] Key(byte[] rid, byte[] msgId) => [(byte)rid.Length, .. rid, .. msgId];

    /// <summary>
    /// Settles which queues are lost once every file was replayed. A queue is lost when a CREATE naming
    /// it could not be read, or when other records name it and the store log neither has nor deleted it.
    /// An unreadable CREATE whose RID is unreadable too is most likely one of the queues other records
    /// name without a CREATE; only those beyond that count add to the number.
    /// </summary>
    public void Settle(Func<byte[], bool> known)
    {
        var lost = new HashSet<byte[]>(ByteArrayComparer.Instance);
        foreach (var rid in _unreadableCreates) if (!known(rid)) lost.Add(rid);
        var namedOnly = 0;
        foreach (var rid in _named)
        {
            if (known(rid) || !lost.Add(rid)) continue;
            namedOnly++;
        }
        _queuesLost = lost.Count + Math.Max(0, _anonymousCreates - namedOnly);
        foreach (var o in _orphans.Values) if (!o.Expired) For(o.Path).OrphanMessages++;
    }

    public int QueuesNotRestored => _queuesLost ?? throw new InvalidOperationException("Settle first");

    /// <summary>True when the file holds anything start-up could not use: it must be kept aside before it is rewritten or deleted.</summary>
    public bool MustKeepAside(string path) =>
        _files.TryGetValue(path, out var f) && (f.Unreadable > 0 || f.Torn || f.MessagesNotRestored > 0 || f.NamesMissing || f.LacksQueues);

    /// <summary>Marks the store log as the file that lost queues, so it is kept aside even when every line of it was readable.</summary>
    public void LostQueuesIn(string path)
    {
        if (QueuesNotRestored > 0) For(path).LacksQueues = true;
    }

    /// <summary>
    /// Keeps the file as it was under <c>&lt;name&gt;.damaged-&lt;UTC time&gt;</c>: a durable copy when the file is
    /// rewritten in place next, a rename when it would be deleted. Returns the new path.
    /// </summary>
    public string KeepAside(string path, bool copy)
    {
        var f = For(path);
        if (f.KeptAside is not null) return f.KeptAside;
        var stamp = clock.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var aside = $"{path}.damaged-{stamp}";
        for (var i = 2; File.Exists(aside); i++) aside = string.Create(CultureInfo.InvariantCulture, $"{path}.damaged-{stamp}-{i}");
        if (copy)
        {
            using var from = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024);
            using var to = new FileStream(aside, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024);
            from.CopyTo(to);
            to.Flush(flushToDisk: true);
        }
        else
        {
            File.Move(path, aside);
        }
        f.KeptAside = aside;
        return aside;
    }

    /// <summary>The totals and the files kept aside, each also told to the operator in plain words (paths, counts, never ids).</summary>
    public SmpServerRecovery Report(ILogger logger)
    {
        var files = new List<SmpServerDamagedFile>();
        int unreadable = 0, torn = 0;
        long messages = 0;
        foreach (var (path, f) in _files.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            unreadable += f.Unreadable;
            if (f.Torn) torn++;
            messages += f.MessagesNotRestored;
            if (f.KeptAside is null) continue;
            files.Add(new SmpServerDamagedFile(path, f.KeptAside, f.Unreadable, f.Torn, f.MessagesNotRestored));
            var reasons = new List<string>();
            if (f.Unreadable > 0) reasons.Add(string.Create(CultureInfo.InvariantCulture, $"{f.Unreadable} record(s) could not be read, the first on line {f.FirstUnreadableLine}"));
            if (f.Torn) reasons.Add("its last record was cut off mid-write by a crash (that command was never answered, so its record is ignored)");
            if (f.OrphanMessages > 0) reasons.Add(string.Create(CultureInfo.InvariantCulture, $"it holds {f.OrphanMessages} message(s) of queues missing from the store log"));
            else if (f.NamesMissing) reasons.Add("it names queues missing from the store log");
            if (f.LacksQueues) reasons.Add("queues that other records name, or whose CREATE could not be read, are missing from it");
            logger.LogWarning("{File} was kept aside as found, as {Aside}: {Reasons}", path, f.KeptAside, string.Join("; ", reasons));
        }
        var report = new SmpServerRecovery(unreadable, torn, QueuesNotRestored, messages, files);
        if (report.FoundDamage)
            logger.LogError("start-up could not restore everything: {Records} record(s) could not be read, {Queues} queue(s) and {Messages} message(s) could not be restored; the files as found were kept aside: {Files}",
                unreadable, report.QueuesNotRestored, messages, string.Join(", ", files.Select(f => f.KeptAsidePath)));
        return files.Count == 0 && torn == 0 && !report.FoundDamage ? SmpServerRecovery.Clean : report;
    }
}
