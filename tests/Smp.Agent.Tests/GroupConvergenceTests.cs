using System.Text;
using Smp.Agent.Groups;

namespace Smp.Agent.Tests;

/// <summary>
/// Membership that converges (groups.md §6.11), over loopback: additions made at the same time by different
/// members end with every pair connected exactly once.
/// </summary>
public sealed class GroupConvergenceTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();
    private readonly Dictionary<string, (SmpAgent Agent, ClientSession Session)> _p = [];

    /// <summary>Each agent's log, so that an unexpected ERR names the envelope refused and why (Debug lines).</summary>
    private readonly Dictionary<string, CapturingLoggerFactory> _logs = [];

    public async Task InitializeAsync()
    {
        var server = await _h.StartServerAsync();
        foreach (var name in new[] { "alice", "bob", "carol", "dave" })
        {
            _logs[name] = new CapturingLoggerFactory(name);
            var agent = await _h.StartAgentAsync(_h.Options(name, server) with { LoggerFactory = _logs[name] });
            _p[name] = (agent, agent.ConnectWatched(name));
        }
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private Task ConnectAsync(string x, string y) => SessionExtensions.ConnectAsync(_p[x].Agent, _p[x].Session, y, _p[y].Agent, _p[y].Session, x);

    /// <summary>x invites y; y's client accepts as soon as the invitation comes.</summary>
    private async Task InviteAsync(string x, string y)
    {
        await _p[x].Agent.GroupAddAsync("g", y);
        var ginv = await _p[y].Session.ExpectAsync(x, "GINV");
        await _p[y].Agent.GroupJoinAsync(_p[y].Session, "g", Convert.FromBase64String(ginv.Text().Split(' ')[1]));
    }

    /// <summary>
    /// Waits, event by event, until <paramref name="name"/>'s agent is connected to <paramref name="count"/>
    /// members with one record each; an ERR on the group fails the test.
    /// </summary>
    private async Task<List<MemberRecord>> ConnectedToAsync(string name, int count)
    {
        var (agent, session) = _p[name];
        while (true)
        {
            var members = (await agent.GroupStateAsync("g")).Members;
            var connected = members.Where(m => m.Status == MemberStatus.Connected).ToList();
            if (connected.Count >= count) return connected;
            var o = await session.ExpectAsync(_ => true);
            Assert.False(o.Alias == "g" && o.Text().StartsWith("ERR", StringComparison.Ordinal),
                $"{name}: {o.Text()}; its log:\n{string.Join("\n", _logs[name].Entries.TakeLast(40).Select(e => $"{e.Level} {e.Message}"))}");
        }
    }

    /// <summary>Alice creates "g" and adds Carol, who is in once GALL came.</summary>
    private async Task AliceAndCarolInGroupAsync()
    {
        await _p["alice"].Agent.GroupNewAsync(_p["alice"].Session, "g", "g"u8.ToArray());
        await ConnectAsync("alice", "carol");
        await InviteAsync("alice", "carol");
        await _p["alice"].Session.ExpectAsync("g", "GALL carol");
    }

    [Fact]
    public async Task Two_members_adding_at_the_same_time_end_with_every_pair_connected_exactly_once()
    {
        await AliceAndCarolInGroupAsync();
        await ConnectAsync("alice", "bob");
        await ConnectAsync("carol", "dave");

        // Alice adds Bob while Carol adds Dave: neither newcomer is connected at the other's inviter when it joins.
        await Task.WhenAll(InviteAsync("alice", "bob"), InviteAsync("carol", "dave"));

        var ids = new Dictionary<string, byte[]>();
        foreach (var name in _p.Keys) ids[name] = (await _p[name].Agent.GroupStateAsync("g")).Group!.MemberId;
        foreach (var name in _p.Keys)
        {
            var connected = await ConnectedToAsync(name, 3);
            var others = ids.Where(kv => kv.Key != name).Select(kv => Convert.ToHexString(kv.Value)).Order();
            Assert.Equal(others, connected.Select(m => Convert.ToHexString(m.MemberId!)).Order());
            // One direct connection per member, besides the group connection: the introduced ones included.
            foreach (var m in connected) Assert.True(await _p[name].Agent.Store.TransactAsync(tx => _p[name].Agent.Connections.Exists(tx, m.DirectAlias)), $"{name}: {m.DirectAlias}");
        }

        // And the group carries messages between the two newcomers, who were introduced by the rule.
        await _p["bob"].Agent.GroupSendAsync("g", Encoding.ASCII.GetBytes("from bob"));
        Assert.EndsWith("from bob", (await _p["dave"].Session.ExpectAsync("g", "GMSG")).Text());
    }

    [Fact]
    public async Task A_member_added_by_a_newcomer_before_its_introductions_ended_is_connected_to_everyone()
    {
        await AliceAndCarolInGroupAsync();
        await ConnectAsync("alice", "bob");
        await ConnectAsync("bob", "dave");

        // Bob adds Dave as soon as he is in, while his introduction to Carol is still under way.
        await InviteAsync("alice", "bob");
        await _p["bob"].Session.ExpectAsync("g", "GCON alice");
        await InviteAsync("bob", "dave");

        foreach (var name in _p.Keys) await ConnectedToAsync(name, 3);
        await _p["dave"].Agent.GroupSendAsync("g", Encoding.ASCII.GetBytes("from dave"));
        Assert.EndsWith("from dave", (await _p["carol"].Session.ExpectAsync("g", "GMSG")).Text());
    }
}

