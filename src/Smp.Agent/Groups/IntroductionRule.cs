using Smp.Protocol.Agent;

namespace Smp.Agent.Groups;

/// <summary>
/// The deterministic rule of converging membership (groups.md §6.11), pure so that every case is unit-tested:
/// which member introduces a missing pair, which of the pair makes the queues, and which of two racing
/// introductions of one member survives. Member ids compare as unsigned bytes, lexicographically.
/// </summary>
internal static class IntroductionRule
{
    /// <summary>How many introductions of one pair an introducer tries before it leaves the pair alone.</summary>
    public const int MaxAttempts = 3;

    public static int Compare(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);

    public static string Key(byte[] memberId) => Convert.ToBase64String(memberId);

    /// <summary>
    /// Whether <paramref name="self"/>, connected to both p and q, introduces them, given the last view each
    /// sent it. Not when either names the other in any state (connected, being connected, or a tombstone);
    /// otherwise only the member with the smallest id among self and every member both say they are
    /// connected to: it is the one all of them agree on once their views agree.
    /// </summary>
    public static bool ShouldIntroduce(byte[] self, byte[] p, IReadOnlyDictionary<string, MemberViewState> viewOfP,
        byte[] q, IReadOnlyDictionary<string, MemberViewState> viewOfQ)
    {
        if (viewOfP.ContainsKey(Key(q)) || viewOfQ.ContainsKey(Key(p))) return false;
        foreach (var (x, state) in viewOfP)
        {
            if (state != MemberViewState.Connected || !viewOfQ.TryGetValue(x, out var other) || other != MemberViewState.Connected) continue;
            if (Compare(Convert.FromBase64String(x), self) < 0) return false;
        }
        return true;
    }

    /// <summary>
    /// Whether a leaving member takes an introduction of itself from <paramref name="introducer"/> and stays as
    /// a bridge (groups.md §6.7): from a member it invited, whose newcomers may have nobody else to reach the
    /// group through (seed 720), and otherwise only when its id is the smaller, so that of two leavers each
    /// introducing its newcomer to the other exactly one does, and the newcomers meet through it (seed 7004).
    /// </summary>
    public static bool BridgesWhileLeaving(byte[] self, byte[] introducer, bool introducerIsOurInvitee) =>
        introducerIsOurInvitee || Compare(self, introducer) < 0;

    /// <summary>Of a pair being introduced, the member with the smaller id makes the queues (gets <c>G_MEM</c>).</summary>
    public static bool MakesQueues(byte[] member, byte[] other) => Compare(member, other) < 0;

    /// <summary>
    /// A new introduction of a member we are already joining by another: the one run by the introducer with
    /// the smaller member id survives, so both members of the pair decide alike whatever order the envelopes
    /// come in. From the same introducer the new one always wins: an introducer runs one introduction of a
    /// pair at a time, so it gave the old one up, and its envelopes reach both members in the order it sent them.
    /// </summary>
    public static bool Supersedes(byte[] introducer, byte[] existingIntroducer) => Compare(introducer, existingIntroducer) <= 0;
}
