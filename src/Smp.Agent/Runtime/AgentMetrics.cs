using System.Diagnostics;
using System.Diagnostics.Metrics;
using Smp.Agent.Smp;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Runtime;

/// <summary>
/// The agent's instruments on a <see cref="Meter"/> named <see cref="SmpAgent.MeterName"/> (docs/agent.md,
/// "Metrics"). All are observable and read state their owners keep: <see cref="AgentCounters"/>, the
/// pool's relays and the store's counts. The store is asked at most once per cache period (a second by
/// default), so a scrape costs three small counts however many instruments read them. One meter per agent.
/// </summary>
internal sealed class AgentMetrics : IDisposable
{
    private static readonly (ConnectionStatus Status, string Name)[] Statuses =
        [(ConnectionStatus.Pending, "pending"), (ConnectionStatus.Joining, "joining"), (ConnectionStatus.Active, "active")];

    private readonly Meter _meter;
    private readonly AgentStore _store;
    private readonly TimeSpan _cacheFor;
    private readonly Lock _cacheLock = new();
    private StoreCounts _counts = new(new Dictionary<ConnectionStatus, long>(), 0, 0);
    private long _countedAt;
    private bool _counted;

    public AgentMetrics(AgentStore store, AgentCounters counters, SmpClientPool relays, TimeSpan storeCacheFor)
    {
        _store = store;
        _cacheFor = storeCacheFor;
        _meter = new Meter(SmpAgent.MeterName, typeof(AgentMetrics).Assembly.GetName().Version?.ToString());
        _meter.CreateObservableUpDownCounter("smp.agent.connections",
            () => Statuses.Select(s => new Measurement<long>(Counts().Connections.GetValueOrDefault(s.Status), new KeyValuePair<string, object?>("status", s.Name))),
            "{connection}", "Connections in the store, by status (pending: invitation made; joining: handshake under way; active: duplex), group connections included");
        _meter.CreateObservableUpDownCounter("smp.agent.outbox.jobs", () => Counts().Jobs, "{job}", "Jobs waiting in the outbox (sends, queue creation, securing, deletion)");
        _meter.CreateObservableUpDownCounter("smp.agent.events.waiting", () => Counts().Events, "{event}", "Events stored for a client that has not taken them yet");
        _meter.CreateObservableUpDownCounter("smp.agent.relays",
            () =>
            {
                var (up, down) = relays.RelayCounts();
                return (IEnumerable<Measurement<long>>)[new Measurement<long>(up, new KeyValuePair<string, object?>("state", "up")), new Measurement<long>(down, new KeyValuePair<string, object?>("state", "down"))];
            },
            "{relay}", "SMP servers the agent is connected to (up) or has lost and is reconnecting to (down)");
        _meter.CreateObservableCounter("smp.agent.messages.sent", () => counters.Sent, "{message}", "Agent envelopes the relays accepted since start (handshake, messages, group envelopes)");
        _meter.CreateObservableCounter("smp.agent.messages.received", () => counters.Received, "{message}", "Agent envelopes received and applied since start (redeliveries and rejected ones not counted)");
        _meter.CreateObservableCounter("smp.agent.retries", () => counters.Retries, "{attempt}", "Outbox jobs put back to wait for another attempt since start");
        _meter.CreateObservableCounter("smp.agent.envelopes.rejected",
            () => AgentCounters.HostileKinds.Select((k, i) => new Measurement<long>(counters.Hostile(i), new KeyValuePair<string, object?>("kind", KindName(k)))),
            "{message}", "Received envelopes rejected since start, by kind: A_MESSAGE (does not parse), A_ENCRYPTION (does not decrypt), A_SIGNATURE (bad signature), A_PROHIBITED (not allowed now)");
    }

    public Meter Meter => _meter;

    /// <summary>The wire name after <c>AGENT</c>: A_MESSAGE, A_ENCRYPTION, A_SIGNATURE or A_PROHIBITED.</summary>
    public static string KindName(AgentErrorCode kind) => AgentErrors.ToText(AgentError.Of(kind))["AGENT ".Length..];

    /// <summary>
    /// The store's counts, fresh within the cache period. Collection is synchronous, so this waits
    /// for the store (behind whatever transaction runs); a store already closed keeps the last answer.
    /// </summary>
    private StoreCounts Counts()
    {
        lock (_cacheLock)
        {
            if (_counted && Stopwatch.GetElapsedTime(_countedAt) < _cacheFor) return _counts;
            try
            {
                _counts = _store.TransactAsync(tx => tx.Counts()).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
            {
            }
            _countedAt = Stopwatch.GetTimestamp();
            _counted = true;
            return _counts;
        }
    }

    public void Dispose() => _meter.Dispose();
}
