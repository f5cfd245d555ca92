using System.Text;
using Smp.Agent.Groups;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>Group envelopes from the wrong place are refused with A_PROHIBITED and change nothing (groups.md §3).</summary>
public sealed partial class GroupHostileTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();
    private SmpAgent _a = null!, _b = null!, _c = null!;
    private ClientSession _alice = null!, _bob = null!, _carol = null!;

    public async Task InitializeAsync()
    {
        var server = await _h.StartServerAsync();
        _a = await _h.StartAgentAsync("a", server);
        _b = await _h.StartAgentAsync("b", server);
        _c = await _h.StartAgentAsync("c", server);
        _alice = _a.Connect("alice");
        _bob = _b.Connect("bob");
        _carol = _c.Connect("carol");
        await SessionExtensions.ConnectAsync(_a, _alice, "bob", _b, _bob, "alice");
        await SessionExtensions.ConnectAsync(_a, _alice, "carol", _c, _carol, "alice");
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private static async Task AddAsync(SmpAgent x, ClientSession xs, string gid, SmpAgent y, ClientSession ys, string yAlias, string xAlias)
    {
        await x.GroupAddAsync(gid, yAlias);
        var ginv = await ys.ExpectAsync(xAlias, "GINV");
        await y.GroupJoinAsync(ys, gid, Convert.FromBase64String(ginv.Text().Split(' ')[1]));
        await xs.ExpectAsync(gid, "GALL " + yAlias);
        await ys.ExpectAsync(gid, "GALL " + xAlias);
    }

    [Fact]
    public async Task A_group_message_sent_on_a_direct_connection_is_refused()
    {
        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray());
        await AddAsync(_a, _alice, "g", _b, _bob, "bob", "alice");
        var before = await _b.GroupStateAsync("g");
        await _a.QueueEnvelopeAsync("bob", new AgentEnvelope.GMsg(new byte[12], 99, [], "smuggled"u8.ToArray()));
        Assert.Equal("ERR AGENT A_PROHIBITED", (await _bob.ExpectAsync("alice", "ERR")).Text());
        // The direct connection still works and the group is as it was.
        await _a.SendAsync("1", "bob", "still here"u8.ToArray());
        Assert.EndsWith("still here", (await _bob.ExpectAsync("alice", "MSG")).Text());
        var after = await _b.GroupStateAsync("g");
        Assert.Equal((before.Group!.Status, before.Group.LastSeq, before.Group.InviterConn), (after.Group!.Status, after.Group.LastSeq, after.Group.InviterConn));
        Assert.Equal(before.Members.Select(m => (m.Status, m.LastSeq)), after.Members.Select(m => (m.Status, m.LastSeq)));
    }

    [Fact]
    public async Task An_introduction_reusing_a_known_member_id_from_an_older_introducer_is_refused_and_the_introducer_told()
    {
        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray());
        await AddAsync(_a, _alice, "g", _b, _bob, "bob", "alice");
        await AddAsync(_a, _alice, "g", _c, _carol, "carol", "alice");
        var before = await _b.GroupStateAsync("g");
        var carolId = before.Members.Single(m => m.DirectAlias != "alice").MemberId!;
        await _b.ForgetViewsAsync("g");
        var toBob = (await _a.GroupStateAsync("g")).Members.Single(m => m.DirectAlias == "bob").GroupConn;
        await _a.QueueEnvelopeAsync(toBob, new AgentEnvelope.GMem(new byte[12], carolId, 1));
        Assert.Equal("ERR AGENT A_PROHIBITED", (await _bob.ExpectAsync("g", "ERR")).Text());
        // Told: Alice runs no such introduction, so her agent refuses the G_ADD_ERR in turn.
        Assert.Equal("ERR AGENT A_PROHIBITED", (await _alice.ExpectAsync("g", "ERR")).Text());
        var after = await _b.GroupStateAsync("g");
        Assert.Equal(before.Members.Count, after.Members.Count);
        Assert.Equal(before.Members.Select(m => m.Status), after.Members.Select(m => m.Status));
    }

    [Fact]
    public async Task A_duplicate_introduction_between_members_that_exchange_views_is_a_race_refused_without_an_error()
    {
        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray());
        await AddAsync(_a, _alice, "g", _b, _bob, "bob", "alice");
        await AddAsync(_a, _alice, "g", _c, _carol, "carol", "alice");
        var before = await _b.GroupStateAsync("g");
        var carolId = before.Members.Single(m => m.DirectAlias != "alice").MemberId!;
        var toBob = (await _a.GroupStateAsync("g")).Members.Single(m => m.DirectAlias == "bob").GroupConn;
        await _a.QueueEnvelopeAsync(toBob, new AgentEnvelope.GMem(new byte[12], carolId, 1));
        Assert.Equal("ERR AGENT A_PROHIBITED", (await _alice.ExpectAsync("g", "ERR")).Text());
        // A message after it on the same connection: Bob got no error for the duplicate before it.
        await _a.GroupSendAsync("g", Encoding.ASCII.GetBytes("after"));
        var skipped = new List<AgentOutput>();
        Assert.EndsWith("after", (await _bob.ExpectAsync("g", "GMSG", skipped)).Text());
        Assert.DoesNotContain(skipped, o => o.Text().StartsWith("ERR", StringComparison.Ordinal));
        var after = await _b.GroupStateAsync("g");
        Assert.Equal(before.Members.Select(m => m.Status), after.Members.Select(m => m.Status));
    }

    [Fact]
    public async Task A_member_who_is_not_our_inviter_and_sent_no_view_cannot_introduce_anyone()
    {
        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray());
        await AddAsync(_a, _alice, "g", _b, _bob, "bob", "alice");
        await AddAsync(_a, _alice, "g", _c, _carol, "carol", "alice");
        var bobState = await _b.GroupStateAsync("g");
        // Carol (introduced to Bob, not his inviter) tries to introduce a stranger to Bob, as an older agent would.
        await _b.ForgetViewsAsync("g");
        var carolAtBob = bobState.Members.Single(m => m.DirectAlias != "alice");
        var bobAtCarol = (await _c.GroupStateAsync("g")).Members.Single(m => m.MemberId!.AsSpan().SequenceEqual(bobState.Group!.MemberId));
        await _c.QueueEnvelopeAsync(bobAtCarol.GroupConn, new AgentEnvelope.GMem(new byte[12], new byte[16], 1));
        Assert.Equal("ERR AGENT A_PROHIBITED", (await _bob.ExpectAsync("g", "ERR")).Text());
        Assert.Equal(bobState.Members.Count, (await _b.GroupStateAsync("g")).Members.Count);
        Assert.Equal(MemberStatus.Connected, carolAtBob.Status);
    }

    [Fact]
    public async Task A_join_with_the_wrong_invitation_id_is_refused_and_the_member_stays_invited()
    {
        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray());
        await AddAsync(_a, _alice, "g", _b, _bob, "bob", "alice");
        var toBob = (await _a.GroupStateAsync("g")).Members.Single(m => m.DirectAlias == "bob");
        var bobToAlice = (await _b.GroupStateAsync("g")).Members.Single(m => m.DirectAlias == "alice").GroupConn;
        await _b.QueueEnvelopeAsync(bobToAlice, new AgentEnvelope.GJoin(new byte[12], toBob.MemberId!));
        Assert.Equal("ERR AGENT A_PROHIBITED", (await _alice.ExpectAsync("g", "ERR")).Text());
        Assert.Equal(MemberStatus.Connected, (await _a.GroupStateAsync("g")).Members.Single(m => m.DirectAlias == "bob").Status);
        // And the group still carries messages.
        await _b.GroupSendAsync("g", Encoding.ASCII.GetBytes("fine"));
        Assert.EndsWith("fine", (await _alice.ExpectAsync("g", "GMSG")).Text());
    }
}
