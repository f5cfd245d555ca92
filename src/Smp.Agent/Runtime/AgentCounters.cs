using Smp.Protocol.Agent;

namespace Smp.Agent.Runtime;

/// <summary>
/// The agent's event counters since start, the one owner of them (docs/agent.md, "Metrics"): the outbox
/// counts retries and sends, the receive path counts what it accepts and what it rejects. Incremented
/// after the transaction that decided it has committed, read by <see cref="AgentMetrics"/>.
/// </summary>
internal sealed class AgentCounters
{
    /// <summary>The receive path's rejections, in the order <see cref="HostileKinds"/> names them.</summary>
    public static readonly AgentErrorCode[] HostileKinds =
        [AgentErrorCode.AgentMessage, AgentErrorCode.AgentEncryption, AgentErrorCode.AgentSignature, AgentErrorCode.AgentProhibited];

    private readonly long[] _hostile = new long[HostileKinds.Length];
    private long _sent;
    private long _received;
    private long _retries;

    /// <summary>Agent envelopes a relay accepted (SEND answered OK): handshake, messages and group envelopes.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Agent envelopes received and applied; redeliveries and rejected envelopes are not counted.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Jobs put back to wait for another attempt.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    public long Hostile(int kindIndex) => Interlocked.Read(ref _hostile[kindIndex]);

    public void CountSent(int messages = 1) => Interlocked.Add(ref _sent, messages);

    public void CountReceived() => Interlocked.Increment(ref _received);

    public void CountRetry() => Interlocked.Increment(ref _retries);

    public void CountHostile(AgentErrorCode kind)
    {
        var i = Array.IndexOf(HostileKinds, kind);
        if (i >= 0) Interlocked.Increment(ref _hostile[i]);
    }
}
