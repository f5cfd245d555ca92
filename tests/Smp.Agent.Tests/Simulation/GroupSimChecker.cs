using System.Text;
using Smp.Protocol.Agent;

namespace Smp.Agent.Simulation;

/// <summary>
/// The invariants of a settled group (issue 10, item 6), over snapshots of every agent. Pure: the same
/// snapshots give the same answer. Invariant names, as they appear in reports:
/// <list type="bullet">
/// <item><c>pairs</c>: at every member, every other member has exactly one CONNECTED record, and its direct alias is an established connection.</item>
/// <item><c>agreement</c>: every member sees the same set of member ids (its own and those of its CONNECTED records).</item>
/// <item><c>departed</c>: an agent that left or was removed no longer has the group active, unless it holds no live member: one removed while connected to nobody live cannot be told, and is alone (groups.md §10).</item>
/// <item><c>jobs</c>: every agent's outbox is empty.</item>
/// <item><c>messages.missing</c>, <c>messages.duplicate</c>, <c>messages.order</c>: see <see cref="GroupSimOptions.FullMessageInvariant"/>.</item>
/// </list>
/// </summary>
public static class GroupSimChecker
{
    public static List<SimViolation> Check(IReadOnlyList<SimAgentSnapshot> agents, IReadOnlyList<SimSent> sent, IReadOnlyList<long> settlePoints, GroupSimOptions o)
    {
        var v = new List<SimViolation>();
        var members = agents.Where(a => a.Member).ToList();
        var names = agents.Where(a => a.OwnMemberId is not null).GroupBy(a => Hex(a.OwnMemberId!)).ToDictionary(g => g.Key, g => g.First().Name);
        string Who(byte[] id) => names.GetValueOrDefault(Hex(id)) ?? "?" + Hex(id)[..8];

        // pairs
        var views = new Dictionary<string, SortedSet<string>>();
        foreach (var x in members)
        {
            if (x.OwnMemberId is null)
            {
                v.Add(new("pairs", $"{x.Name} is a member but its group is {x.GroupStatus ?? "unknown"}"));
                continue;
            }
            foreach (var y in members.Where(y => y != x && y.OwnMemberId is not null))
            {
                var records = x.Members.Where(m => m.MemberId.AsSpan().SequenceEqual(y.OwnMemberId)).ToList();
                var connected = records.Where(m => m.Status == GroupMemberStatus.Connected).ToList();
                if (connected.Count != 1)
                    v.Add(new("pairs", $"{x.Name} has {connected.Count} CONNECTED records of {y.Name} (its records: {Statuses(records)})"));
                else if (!connected[0].Duplex)
                    v.Add(new("pairs", $"{x.Name}'s direct connection {connected[0].Alias} to {y.Name} is not established"));
            }
            var seen = new SortedSet<string>(StringComparer.Ordinal) { x.Name };
            foreach (var m in x.Members.Where(m => m.Status == GroupMemberStatus.Connected)) seen.Add(Who(m.MemberId));
            views[x.Name] = seen;
        }

        // agreement
        var distinct = views.GroupBy(kv => string.Join(",", kv.Value)).ToList();
        if (distinct.Count > 1)
            v.Add(new("agreement", string.Join("; ", distinct.Select(g => $"{string.Join(",", g.Select(kv => kv.Key))} see {{{g.Key}}}"))));

        // departed
        foreach (var z in agents.Where(a => !a.Member && a.GroupStatus == "active" && a.Members.Any(m => m.Status.IsLive())))
            v.Add(new("departed", $"{z.Name} left or was removed but still has the group active, with {z.Members.Count(m => m.Status == GroupMemberStatus.Connected)} connected"));

        // jobs
        foreach (var a in agents.Where(a => a.Jobs.Count > 0))
            v.Add(new("jobs", $"{a.Name} has {a.Jobs.Count} outbox jobs: {string.Join(", ", a.Jobs.Take(5))}"));

        // messages
        var byAgent = agents.ToDictionary(a => a.Index);
        foreach (var r in agents)
        {
            var live = r.Deliveries.Where(d => !d.History).ToList();
            foreach (var dup in live.GroupBy(d => d.Body).Where(g => g.Count() > 1))
                v.Add(new("messages.duplicate", $"{r.Name} got '{dup.Key}' {dup.Count()} times"));
            if (!r.Member) continue;
            // A message sent while the reader was still joining reaches it as history from its inviter
            // (groups.md §6.6.2): that is its one delivery, so required messages count history too, and one
            // delivered both ways is a duplicate. (A re-added reader may get as history what it had live in
            // its earlier membership; required messages were all sent after its last join.)
            var all = r.Deliveries;
            var position = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < all.Count; i++) position.TryAdd(all[i].Body, i);
            var required = sent.Where(m => Required(m, r)).ToList();
            foreach (var twice in required.Where(m => all.Count(d => d.Body == m.Body) > 1 && live.Count(d => d.Body == m.Body) < 2))
                v.Add(new("messages.duplicate", $"{r.Name} got '{twice.Body}' both live and as history"));
            foreach (var byAuthor in required.GroupBy(m => m.Author))
            {
                var author = byAgent[byAuthor.Key];
                var expected = byAuthor.OrderBy(m => m.AuthorIndex).ToList();
                var missing = expected.Where(m => !position.ContainsKey(m.Body)).ToList();
                if (missing.Count > 0)
                    v.Add(new("messages.missing", $"{r.Name} lacks {missing.Count} of {expected.Count} required from {author.Name}: {string.Join(", ", missing.Take(4).Select(m => m.Body))}{Chain(author, r)}"));
                var got = expected.Where(m => position.ContainsKey(m.Body)).Select(m => position[m.Body]).ToList();
                if (got.Zip(got.Skip(1)).Any(p => p.First > p.Second))
                    v.Add(new("messages.order", $"{r.Name} got {author.Name}'s messages out of its order: {string.Join(", ", expected.Where(m => position.ContainsKey(m.Body)).OrderBy(m => position[m.Body]).Select(m => m.Body))}"));
            }
        }
        return v;

        // Both were members when GSEND was called (the reader's GJOIN answered before it) and still are; with the
        // weakened invariant also a settle point between both joins and the send.
        bool Required(SimSent m, SimAgentSnapshot reader)
        {
            var author = byAgent[m.Author];
            if (reader.Index == m.Author || !author.Member || !reader.Member) return false;
            if (author.JoinClock > m.Clock || reader.JoinClock > m.Clock) return false;
            if (o.FullMessageInvariant) return true;
            var joined = Math.Max(author.JoinClock, reader.JoinClock);
            return settlePoints.Any(s => s > joined && s < m.Clock);
        }
    }

    /// <summary>What a settle watches for change: group states, member records and how many messages each agent got.</summary>
    public static string Fingerprint(IReadOnlyList<SimAgentSnapshot> agents)
    {
        var sb = new StringBuilder();
        foreach (var a in agents)
        {
            sb.Append(a.Name).Append(a.Member).Append(a.GroupStatus).Append(a.Deliveries.Count).Append(':');
            foreach (var m in a.Members) sb.Append(m.Alias).Append(m.Status).Append(m.Duplex).Append(',');
            sb.Append(';');
        }
        return sb.ToString();
    }

    /// <summary>For a connected pair: how far the author's group connection to the reader was sent and received at each end.</summary>
    private static string Chain(SimAgentSnapshot author, SimAgentSnapshot reader)
    {
        SimMemberRecord? Of(SimAgentSnapshot at, SimAgentSnapshot who) => who.OwnMemberId is null ? null
            : at.Members.LastOrDefault(m => m.Status == GroupMemberStatus.Connected && m.MemberId.AsSpan().SequenceEqual(who.OwnMemberId));
        return Of(author, reader) is { } there && Of(reader, author) is { } here
            ? $" (both CONNECTED; {author.Name} sent up to #{there.Sent} on its group connection to {reader.Name}, {reader.Name} received up to #{here.Received})"
            : "";
    }

    private static string Statuses(List<SimMemberRecord> records) =>
        records.Count == 0 ? "none" : string.Join(", ", records.Select(m => $"{m.Alias} {m.Status.ToString().ToUpperInvariant()}{(m.Duplex ? "" : " (direct not established)")}"));

    private static string Hex(byte[] id) => Convert.ToHexString(id);
}
