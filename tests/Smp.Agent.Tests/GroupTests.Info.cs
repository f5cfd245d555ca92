using System.Text;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>Who is who (groups.md §6.12) across three agents.</summary>
public sealed partial class GroupTests
{
    private static bool IsGmInfo(AgentOutput o) => o.Alias == "team" && o.Text().StartsWith("GMINFO ", StringComparison.Ordinal);

    /// <summary>"GMINFO alias size\ninfo" → (alias, info).</summary>
    private static (string Alias, string Info) ParseGmInfo(AgentOutput o)
    {
        var text = o.Text();
        var nl = text.IndexOf('\n');
        return (text[7..nl].Split(' ')[0], text[(nl + 1)..]);
    }

    /// <summary>The infos a person heard of by GMINFO: those among <paramref name="seen"/>, then more until there are <paramref name="count"/>.</summary>
    private static async Task<Dictionary<string, string>> InfosHeardAsync(Person p, List<AgentOutput> seen, int count)
    {
        var infos = seen.Where(IsGmInfo).Select(ParseGmInfo).ToDictionary(x => x.Alias, x => x.Info);
        while (infos.Count < count)
        {
            var (alias, info) = ParseGmInfo(await p.Session.ExpectAsync(IsGmInfo));
            Assert.True(infos.TryAdd(alias, info), $"{p.Name} heard {alias}'s info twice");
        }
        return infos;
    }

    /// <summary>x invites y, who joins with its own info; every event either sees meanwhile is kept.</summary>
    private static async Task AddWithInfoAsync(Person x, List<AgentOutput> xEvents, Person y, List<AgentOutput> yEvents, string info)
    {
        await x.Agent.GroupAddAsync("team", x.Alias[y.Name]);
        var ginv = await y.Session.ExpectAsync(y.Alias[x.Name], "GINV", yEvents);
        await y.Agent.GroupJoinAsync(y.Session, "team", Convert.FromBase64String(ginv.Text().Split(' ')[1]), Encoding.UTF8.GetBytes(info));
        await x.Session.ExpectAsync("team", "GALL " + x.Alias[y.Name], xEvents);
        await y.Session.ExpectAsync("team", "GALL " + y.Alias[x.Name], yEvents);
    }

    [Fact]
    public async Task Three_members_with_infos_each_learn_the_others_info_from_the_members_themselves()
    {
        var (alice, bob, carol) = await AliceConnectedToBobAndCarolAsync();
        await alice.Agent.GroupNewAsync(alice.Session, "team", "our team"u8.ToArray(), "Alice A."u8.ToArray());
        List<AgentOutput> aliceEvents = [], bobEvents = [], carolEvents = [];
        await AddWithInfoAsync(alice, aliceEvents, bob, bobEvents, "Bob");
        await AddWithInfoAsync(alice, aliceEvents, carol, carolEvents, "Carol \u00e9");

        Person[] all = [alice, bob, carol];
        List<AgentOutput>[] seen = [aliceEvents, bobEvents, carolEvents];
        var names = new Dictionary<string, string> { ["alice"] = "Alice A.", ["bob"] = "Bob", ["carol"] = "Carol \u00e9" };
        for (var i = 0; i < all.Length; i++)
        {
            var p = all[i];
            // Each hears every other member's info once, under its own alias for that member...
            var heard = await InfosHeardAsync(p, seen[i], 2);
            Assert.Equal(names.Where(n => n.Key != p.Name).Select(n => n.Value).Order(StringComparer.Ordinal), heard.Values.Order(StringComparer.Ordinal));
            // ...and GMEMBERS says the same, every member connected.
            var members = await p.Agent.GroupMembersAsync("team");
            Assert.Equal(heard.OrderBy(h => h.Key, StringComparer.Ordinal),
                members.Select(m => new KeyValuePair<string, string>(m.Alias, Encoding.UTF8.GetString(m.Info))).OrderBy(h => h.Key, StringComparer.Ordinal));
            Assert.All(members, m => Assert.True(m.IsLive && m.Status == GroupMemberStatus.Connected));
        }

        // Alice changes her info: both hear it from her, and GMEMBERS has the new one.
        await alice.Agent.GroupSetInfoAsync("team", "Alice B."u8.ToArray());
        foreach (var p in new[] { bob, carol })
        {
            await p.Session.ExpectAsync("team", "GMINFO " + p.Alias["alice"] + " 8\nAlice B.");
            Assert.Equal("Alice B.", Encoding.UTF8.GetString((await p.Agent.GroupMembersAsync("team")).Single(m => m.Alias == p.Alias["alice"]).Info));
        }

        // A member that leaves is listed as departed, with the info it gave.
        await carol.Agent.GroupLeaveAsync("team");
        await alice.Session.ExpectAsync("team", "GLEFT carol");
        var carolAtAlice = (await alice.Agent.GroupMembersAsync("team")).Single(m => m.Alias == "carol");
        Assert.Equal((GroupMemberStatus.Left, false, "Carol \u00e9"), (carolAtAlice.Status, carolAtAlice.IsLive, Encoding.UTF8.GetString(carolAtAlice.Info)));
    }
}
