namespace Smp.Agent.Runtime;

/// <summary>
/// What a transaction asks to be done once it has committed: never before, so nothing is sent or
/// announced that the store might not have.
/// </summary>
internal sealed class Effects
{
    public HashSet<string> Kick { get; } = new(StringComparer.Ordinal);
    public HashSet<string> Dispatch { get; } = new(StringComparer.Ordinal);

    /// <summary>(connection alias, group alias): the connection goes to whoever holds the group.</summary>
    public List<(string Alias, string Group)> Inherit { get; } = [];

    /// <summary>
    /// Pool keys the transaction may take (<see cref="KeyPool.TransactAsync{T}"/>): spent if it commits, back
    /// in the pool if it rolls back. Null in a transaction that makes no queue.
    /// </summary>
    public KeyLease? Keys { get; init; }
}
