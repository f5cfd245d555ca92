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
        _alice = _a.ConnectWatched("alice");
        _bob = _b.ConnectWatched("bob");
        _carol = _c.ConnectWatched("carol");
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
        await ThreeMembersAsync();
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
        await ThreeMembersAsync();
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
        var (_, carolToBob) = await ThreeMembersAsync();
        var bobState = await _b.GroupStateAsync("g");
        // Carol (introduced to Bob, not his inviter) tries to introduce a stranger to Bob, as an older agent would.
        await _b.ForgetViewsAsync("g");
        var carolAtBob = bobState.Members.Single(m => m.DirectAlias != "alice");
        await _c.QueueEnvelopeAsync(carolToBob, new AgentEnvelope.GMem(new byte[12], new byte[16], 1));
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

    /// <summary>Alice invites Bob, then Carol (introduced to Bob); returns Bob's and Carol's group connections to each other.</summary>
    private async Task<(string BobToCarol, string CarolToBob)> ThreeMembersAsync()
    {
        await _a.GroupNewAsync(_alice, "g", "g"u8.ToArray());
        await AddAsync(_a, _alice, "g", _b, _bob, "bob", "alice");
        await AddAsync(_a, _alice, "g", _c, _carol, "carol", "alice");
        var bobState = await _b.GroupStateAsync("g");
        var carolState = await _c.GroupStateAsync("g");
        var carolAtBob = bobState.Members.Single(m => m.DirectAlias != "alice");
        var bobAtCarol = carolState.Members.Single(m => m.MemberId!.AsSpan().SequenceEqual(bobState.Group!.MemberId));
        return (carolAtBob.GroupConn, bobAtCarol.GroupConn);
    }

    private static string Digest((GroupRecord? Group, List<MemberRecord> Members) s) =>
        $"{s.Group!.Status} {s.Group.LastSeq} " + string.Join(",", s.Members.Select(m => $"{m.Status}:{m.LastSeq}:{Convert.ToHexString(m.LastHash)}"));

    /// <summary>The refused envelope changed nothing at Bob, and the sender's next group message still reaches him.</summary>
    private async Task RefusedAtBobAsync(string before, SmpAgent sender, string text)
    {
        Assert.Equal("ERR AGENT A_PROHIBITED", (await _bob.ExpectAsync("g", "ERR")).Text());
        Assert.Equal(before, Digest(await _b.GroupStateAsync("g")));
        await sender.GroupSendAsync("g", Encoding.ASCII.GetBytes(text));
        var skipped = new List<AgentOutput>();
        var m = await _bob.ExpectAsync("g", "GMSG", skipped);
        Assert.Contains(" OK S=1,", m.Text());
        Assert.EndsWith(text, m.Text());
        Assert.DoesNotContain(skipped, o => o.Alias == "g" && (o.Text().StartsWith("GFMSG", StringComparison.Ordinal) || o.Text().StartsWith("GHMSG", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_forwarded_message_from_a_member_who_did_not_introduce_its_author_is_refused()
    {
        var (_, carolToBob) = await ThreeMembersAsync();
        var aliceId = (await _a.GroupStateAsync("g")).Group!.MemberId;
        var before = Digest(await _b.GroupStateAsync("g"));

        // Carol puts words in Alice's mouth: Alice was not introduced to Bob by Carol.
        await _c.QueueEnvelopeAsync(carolToBob, new AgentEnvelope.GFwd(aliceId, DateTimeOffset.UtcNow,
            new AgentEnvelope.GMsg(new byte[12], 1, [], "forged"u8.ToArray())));

        await RefusedAtBobAsync(before, _c, "carol still here");
    }

    [Fact]
    public async Task A_forwarded_message_naming_an_unknown_author_is_refused()
    {
        await ThreeMembersAsync();
        var toBob = (await _a.GroupStateAsync("g")).Members.Single(m => m.DirectAlias == "bob").GroupConn;
        var before = Digest(await _b.GroupStateAsync("g"));

        await _a.QueueEnvelopeAsync(toBob, new AgentEnvelope.GFwd(new byte[16], DateTimeOffset.UtcNow,
            new AgentEnvelope.GMsg(new byte[12], 1, [], "from nobody"u8.ToArray())));

        await RefusedAtBobAsync(before, _a, "alice still here");
    }

    [Fact]
    public async Task History_from_a_member_who_is_not_our_inviter_is_refused()
    {
        var (_, carolToBob) = await ThreeMembersAsync();
        var before = Digest(await _b.GroupStateAsync("g"));

        await _c.QueueEnvelopeAsync(carolToBob, new AgentEnvelope.GHist(new byte[16], DateTimeOffset.UtcNow,
            new AgentEnvelope.GMsg(new byte[12], 1, [], "old news"u8.ToArray())));

        await RefusedAtBobAsync(before, _c, "carol still here");
    }

    [Fact]
    public async Task Oversized_or_late_history_from_our_inviter_is_refused()
    {
        await ThreeMembersAsync();
        var alice = await _a.GroupStateAsync("g");
        var toBob = alice.Members.Single(m => m.DirectAlias == "bob").GroupConn;
        // The largest body whose G_HIST fits an envelope with Alice's 16-byte id but that GSEND would have refused.
        var body = Enumerable.Range(2000, 1100).Last(n => Connections.Envelopes.Fits(Oversized(alice.Group!.MemberId, n)));
        var oversized = Oversized(alice.Group!.MemberId, body);
        Assert.False(GroupRelay.FitsRelayed(oversized.Message));
        var before = Digest(await _b.GroupStateAsync("g"));

        await _a.QueueEnvelopeAsync(toBob, oversized);
        Assert.Equal("ERR AGENT A_PROHIBITED", (await _bob.ExpectAsync("g", "ERR")).Text());
        // And an ordinary one after Alice's G_ALL is out of place as well.
        await _a.QueueEnvelopeAsync(toBob, new AgentEnvelope.GHist(alice.Group.MemberId, DateTimeOffset.UtcNow,
            new AgentEnvelope.GMsg(new byte[12], 1, [], "late"u8.ToArray())));

        await RefusedAtBobAsync(before, _a, "alice still here");
    }

    private static AgentEnvelope.GHist Oversized(byte[] author, int bodySize) =>
        new(author, DateTimeOffset.UtcNow, new AgentEnvelope.GMsg(new byte[12], 1, new byte[32], new byte[bodySize]));
}
