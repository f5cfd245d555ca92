namespace Smp.Server;

/// <summary>A snapshot of the server's counters (what the periodic stats line shows).</summary>
public sealed record SmpServerStats(int Connections, int Queues, long StoredMessages, long MessagesIn, long MessagesOut, long MessagesExpired);

/// <summary>Counters updated with interlocked operations from every session.</summary>
internal sealed class ServerCounters
{
    private int _connections;
    private long _stored;
    private long _in;
    private long _out;
    private long _expired;

    public int Connections => Volatile.Read(ref _connections);
    public long Stored => Interlocked.Read(ref _stored);

    public void Connected() => Interlocked.Increment(ref _connections);
    public void Disconnected() => Interlocked.Decrement(ref _connections);
    public void Accepted() { Interlocked.Increment(ref _in); Interlocked.Increment(ref _stored); }
    public void Delivered() => Interlocked.Increment(ref _out);
    public void Removed(long count) => Interlocked.Add(ref _stored, -count);
    public void Expired(long count) { Interlocked.Add(ref _expired, count); Interlocked.Add(ref _stored, -count); }
    public void Loaded(long count) => Interlocked.Add(ref _stored, count);

    public SmpServerStats Snapshot(int queues) =>
        new(Connections, queues, Stored, Interlocked.Read(ref _in), Interlocked.Read(ref _out), Interlocked.Read(ref _expired));
}
