namespace Smp.Server;

/// <summary>A snapshot of the server's counters (the periodic stats line and the "Smp.Server" meter show them).</summary>
public sealed record SmpServerStats(int Connections, int Queues, long StoredMessages, long MessagesIn, long MessagesOut, long MessagesExpired,
    long ConnectionsAccepted = 0, long QuotaRefusals = 0, long HandshakeFailures = 0);

/// <summary>Counters updated with interlocked operations from every session.</summary>
internal sealed class ServerCounters
{
    private int _connections;
    private long _stored;
    private long _in;
    private long _out;
    private long _expired;
    private long _accepted;
    private long _quota;
    private long _handshakeFailures;

    public int Connections => Volatile.Read(ref _connections);
    public long Stored => Interlocked.Read(ref _stored);

    public long MessagesIn => Interlocked.Read(ref _in);
    public long MessagesOut => Interlocked.Read(ref _out);
    public long MessagesExpired => Interlocked.Read(ref _expired);
    public long ConnectionsAccepted => Interlocked.Read(ref _accepted);
    public long QuotaRefusals => Interlocked.Read(ref _quota);
    public long HandshakeFailures => Interlocked.Read(ref _handshakeFailures);

    public void Connected()
    {
        Interlocked.Increment(ref _connections);
        Interlocked.Increment(ref _accepted);
    }

    public void RefusedByQuota() => Interlocked.Increment(ref _quota);
    public void HandshakeFailed() => Interlocked.Increment(ref _handshakeFailures);
    public void Disconnected() => Interlocked.Decrement(ref _connections);
    public void Accepted() { Interlocked.Increment(ref _in); Interlocked.Increment(ref _stored); }
    public void Delivered() => Interlocked.Increment(ref _out);
    public void Removed(long count) => Interlocked.Add(ref _stored, -count);
    public void Expired(long count) { Interlocked.Add(ref _expired, count); Interlocked.Add(ref _stored, -count); }
    public void Loaded(long count) => Interlocked.Add(ref _stored, count);

    public SmpServerStats Snapshot(int queues) =>
        new(Connections, queues, Stored, MessagesIn, MessagesOut, MessagesExpired, ConnectionsAccepted, QuotaRefusals, HandshakeFailures);
}
