using System.Threading.Channels;

namespace Smp.Agent;

/// <summary>One transmission from the agent to a client: <c>corrId</c>, <c>alias</c>, command line (with body).</summary>
public sealed record AgentOutput(string CorrId, string Alias, byte[] Payload)
{
    /// <summary>Id of the stored event this came from, 0 for a direct response; the store drops it once written.</summary>
    internal long EventId { get; init; }
}

/// <summary>
/// A client of the agent: a TCP client or an in-process API user. It holds the connections and groups
/// whose events it receives (agent.md §3: one holder each; SUB moves it, the previous holder gets END).
/// </summary>
public sealed class ClientSession
{
    /// <summary>Outputs that may wait for a client before it counts as not reading (its events stay in the store).</summary>
    public const int DefaultCapacity = 10_000;

    private static long s_next;
    private readonly Channel<AgentOutput> _out;

    internal ClientSession(string name, int capacity = DefaultCapacity)
    {
        Id = Interlocked.Increment(ref s_next);
        Name = name;
        _out = Channel.CreateBounded<AgentOutput>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    }

    public long Id { get; }

    public string Name { get; }

    /// <summary>Everything the agent sends this client, in order.</summary>
    public ChannelReader<AgentOutput> Output => _out.Reader;


    internal bool Closed { get; private set; }

    /// <summary>
    /// Queues an output; a client that has let <see cref="DefaultCapacity"/> pile up is closed rather than
    /// allowed to grow the agent's memory. Stored events are not lost: they wait for its next session.
    /// </summary>
    internal void Send(AgentOutput output)
    {
        if (!_out.Writer.TryWrite(output)) Close();
    }

    internal void Close()
    {
        Closed = true;
        _out.Writer.TryComplete();
    }

    public override string ToString() => $"{Name}#{Id}";
}
