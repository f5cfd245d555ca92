using System.Text;
using Smp.Agent.Groups;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>Who is who (groups.md §6.12, §7): infos that are too big, on the wrong connection, or about someone else.</summary>
public sealed partial class GroupHostileTests
{
    private static Task<byte[]> InfoAtAsync(SmpAgent agent, string gid, string directAlias) =>
        agent.Store.TransactAsync(tx => tx.GetMemberInfo(tx.MemberByDirectAlias(gid, directAlias)!.Id));

    private static async Task<string> GroupConnToAsync(SmpAgent agent, string gid, string directAlias) =>
        (await agent.GroupStateAsync(gid)).Members.Single(m => m.DirectAlias == directAlias).GroupConn;

    [Fact]
    public async Task An_oversized_member_info_is_refused_and_changes_nothing()
    {
        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray(), "Alice"u8.ToArray());
        await AddAsync(_a, _alice, "g", _b, _bob, "bob", "alice");
        // Alice's G_INFO came before her G_ALL on the same connection, so it is in by now.
        Assert.Equal("Alice"u8.ToArray(), await InfoAtAsync(_b, "g", "alice"));

        await _a.QueueEnvelopeAsync(await GroupConnToAsync(_a, "g", "bob"), new AgentEnvelope.GInfo(new byte[SmpAgent.MaxMemberInfoSize + 1]));

        Assert.Equal("ERR AGENT A_PROHIBITED", (await _bob.ExpectAsync("g", "ERR")).Text());
        Assert.Equal("Alice"u8.ToArray(), await InfoAtAsync(_b, "g", "alice"));
        // The group connection still carries what comes next.
        await _a.GroupSendAsync("g", "still here"u8.ToArray());
        Assert.EndsWith("still here", (await _bob.ExpectAsync("g", "GMSG")).Text());
    }

    [Fact]
    public async Task A_member_info_sent_on_a_direct_connection_is_refused_and_changes_nothing()
    {
        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray(), "Alice"u8.ToArray());
        await AddAsync(_a, _alice, "g", _b, _bob, "bob", "alice");
        // Alice's G_INFO came before her G_ALL on the same connection, so it is in by now.
        Assert.Equal("Alice"u8.ToArray(), await InfoAtAsync(_b, "g", "alice"));

        await _a.QueueEnvelopeAsync("bob", new AgentEnvelope.GInfo("Mallory"u8.ToArray()));

        Assert.Equal("ERR AGENT A_PROHIBITED", (await _bob.ExpectAsync("alice", "ERR")).Text());
        Assert.Equal("Alice"u8.ToArray(), await InfoAtAsync(_b, "g", "alice"));
        await _a.SendAsync("1", "bob", "still here"u8.ToArray());
        Assert.EndsWith("still here", (await _bob.ExpectAsync("alice", "MSG")).Text());
    }

    [Fact]
    public async Task A_member_cannot_give_another_member_an_info()
    {
        // Carol tells Bob "I am Alice" on her own connection: it is Carol's info at Bob, Alice's stays hers.
        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray(), "Alice"u8.ToArray());
        await AddAsync(_a, _alice, "g", _b, _bob, "bob", "alice");
        await AddAsync(_a, _alice, "g", _c, _carol, "carol", "alice");
        var bobId = (await _b.GroupStateAsync("g")).Group!.MemberId;
        var bobAtCarol = (await _c.GroupStateAsync("g")).Members.Single(m => m.MemberId!.AsSpan().SequenceEqual(bobId));

        await _c.QueueEnvelopeAsync(bobAtCarol.GroupConn, new AgentEnvelope.GInfo("Alice"u8.ToArray()));

        var carolAtBob = (await _b.GroupStateAsync("g")).Members.Single(m => m.DirectAlias != "alice").DirectAlias;
        await _bob.ExpectAsync("g", "GMINFO " + carolAtBob + " 5\nAlice");
        Assert.Equal("Alice"u8.ToArray(), await InfoAtAsync(_b, "g", carolAtBob));
        Assert.Equal("Alice"u8.ToArray(), await InfoAtAsync(_b, "g", "alice"));
        Assert.Equal(MemberStatus.Connected, (await _b.GroupStateAsync("g")).Members.Single(m => m.DirectAlias == "alice").Status);
    }

    [Fact]
    public async Task An_oversized_own_info_in_gnew_or_gjoin_is_refused_with_cmd_large_and_changes_nothing()
    {
        var tooBig = new byte[SmpAgent.MaxMemberInfoSize + 1];
        var e = await Assert.ThrowsAsync<AgentProtocolException>(() => _a.GroupNewAsync(_alice, "g", "g"u8.ToArray(), tooBig));
        Assert.Equal("CMD LARGE", e.Error.ToString());
        Assert.Null((await _a.GroupStateAsync("g")).Group);

        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray(), new byte[SmpAgent.MaxMemberInfoSize]);
        await _a.GroupAddAsync("g", "bob");
        var invId = Convert.FromBase64String((await _bob.ExpectAsync("alice", "GINV")).Text().Split(' ')[1]);
        e = await Assert.ThrowsAsync<AgentProtocolException>(() => _b.GroupJoinAsync(_bob, "g", invId, tooBig));
        Assert.Equal("CMD LARGE", e.Error.ToString());
        Assert.Null((await _b.GroupStateAsync("g")).Group);

        // The invitation is still pending: a join with an info that fits goes through.
        await _b.GroupJoinAsync(_bob, "g", invId, "Bob"u8.ToArray());
        await _alice.ExpectAsync("g", "GMINFO bob 3\nBob");
        // GINFO is held to the same limit, and to groups we are in.
        e = await Assert.ThrowsAsync<AgentProtocolException>(() => _a.GroupSetInfoAsync("g", tooBig));
        Assert.Equal("CMD LARGE", e.Error.ToString());
        e = await Assert.ThrowsAsync<AgentProtocolException>(() => _a.GroupSetInfoAsync("nope", "x"u8.ToArray()));
        Assert.Equal("GROUP UNKNOWN", e.Error.ToString());
        Assert.Equal(SmpAgent.MaxMemberInfoSize, (await _a.Store.TransactAsync(tx => tx.GetOwnInfo("g"))).Length);

        // Alice's info of exactly the limit reaches Bob whole.
        await _bob.ExpectAsync("g", $"GMINFO alice {SmpAgent.MaxMemberInfoSize}\n");
        Assert.Equal(SmpAgent.MaxMemberInfoSize, (await InfoAtAsync(_b, "g", "alice")).Length);
    }
}
