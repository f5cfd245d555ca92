using System.Diagnostics.Metrics;

namespace Smp.Server;

/// <summary>
/// The server's instruments on a <see cref="Meter"/> named <see cref="SmpServer.MeterName"/>
/// (docs/server.md, "Metrics"). All are observable: they read the counters the sessions already keep,
/// so the command path does no extra work for them. One meter per server, disposed with it.
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    private readonly Meter _meter;

    public ServerMetrics(ServerState state)
    {
        var c = state.Counters;
        _meter = new Meter(SmpServer.MeterName, typeof(ServerMetrics).Assembly.GetName().Version?.ToString());
        _meter.CreateObservableUpDownCounter("smp.server.connections", () => c.Connections, "{connection}", "Client connections open now");
        _meter.CreateObservableCounter("smp.server.connections.accepted", () => c.ConnectionsAccepted, "{connection}", "Client connections accepted since start");
        _meter.CreateObservableCounter("smp.server.handshake.failures", () => c.HandshakeFailures, "{connection}", "Connections closed before the transport handshake completed (timeout, bad handshake)");
        _meter.CreateObservableUpDownCounter("smp.server.queues", () => state.Store.Count, "{queue}", "Queues in the store");
        _meter.CreateObservableUpDownCounter("smp.server.messages.stored", () => c.Stored, "{message}", "Messages waiting in queues");
        _meter.CreateObservableCounter("smp.server.messages.in", () => c.MessagesIn, "{message}", "Messages accepted by SEND since start");
        _meter.CreateObservableCounter("smp.server.messages.out", () => c.MessagesOut, "{message}", "Messages delivered to recipients since start");
        _meter.CreateObservableCounter("smp.server.messages.expired", () => c.MessagesExpired, "{message}", "Messages dropped unread after the message TTL since start");
        _meter.CreateObservableCounter("smp.server.messages.refused",
            () => new Measurement<long>(c.QuotaRefusals, new KeyValuePair<string, object?>("reason", "quota")),
            "{message}", "SENDs refused since start, by reason (quota: the queue was full, ERR QUOTA)");
        _meter.CreateObservableGauge("smp.server.journal.size", () => state.Journal.Size, "By", "Bytes in the current message journal file (compaction starts a new one)");
        _meter.CreateObservableGauge("smp.server.journal.records", () => state.Journal.RecordsSinceCompaction, "{record}", "Records appended to the message journal since its last compaction");
    }

    public Meter Meter => _meter;

    public void Dispose() => _meter.Dispose();
}
