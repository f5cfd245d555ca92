using System.Security.Cryptography;
using Smp.Agent.Connections;
using Smp.Agent.Groups;
using Smp.Agent.Runtime;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>
/// G_RESEND and G_RESENT (groups.md §6.6.1): a reader whose member introducing an author went asks the author
/// for what that member was to forward; the author gives it again from its history, once.
/// </summary>
public sealed partial class GroupEnvelopeHandlerTests
{
    /// <summary>Bob, introduced to us by Alice ("#ga"), connected on "#gb", with <paramref name="said"/> of his messages had; returns them.</summary>
    private async Task<List<AgentEnvelope.GMsg>> BobIntroducedByAliceWhoSaidAsync(int said)
    {
        await ConnectedMemberAsync("bob", "#gb", Id(0xee), MemberStatus.Connected, RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize), "#ga");
        var messages = BobsMessages(said + 3);
        foreach (var m in messages.Take(said)) Assert.True((await ApplyAsync(m, "#gb")).Accepted);
        return messages;
    }

    private static List<AgentEnvelope.GMsg> BobsMessages(int count)
    {
        var list = new List<AgentEnvelope.GMsg>();
        byte[] prev = [];
        for (var seq = 1; seq <= count; seq++)
        {
            var m = Message(seq, prev, $"b{seq}");
            list.Add(m);
            prev = GroupLayer.GroupMsgHash(m);
        }
        return list;
    }

    private List<AgentEnvelope> QueuedTo(string conn) => _conns.Queued.Where(q => q.Alias == conn).Select(q => q.Envelope).ToList();

    private Task<bool> WaitsAsync(AgentEnvelope.GMsg m, string conn = "#gb") => _store.TransactAsync(tx =>
        _handler.Waits(tx, tx.GetConnection(conn)!, Chained(m), new Effects()));

    private Task<bool> TakesEarlyAsync(AgentEnvelope envelope, string conn = "#gb") => _store.TransactAsync(tx =>
        _handler.TakesEarly(tx, tx.GetConnection(conn)!, Chained(envelope), new Effects()));

    [Theory]
    [InlineData("G_LEFT")]
    [InlineData("tombstone")]
    public async Task When_the_member_that_introduced_an_author_goes_we_ask_the_author_once_for_what_follows_our_chain_head(string how)
    {
        // Seed 720: the introducer was removed with forwards of Bob's messages still queued, which only it had.
        await ConnectedMemberAsync("carol", "#gc", Id(0xcc));
        Assert.True((await ApplyAsync(ViewOf(), "#gc")).Accepted);
        var bobs = await BobIntroducedByAliceWhoSaidAsync(2);

        var gone = how == "G_LEFT"
            ? await ApplyAsync(new AgentEnvelope.GLeft())
            : await ApplyAsync(ViewOf((AliceId, MemberViewState.Removed)), "#gc");
        Assert.True(gone.Accepted);

        Assert.Equal([new AgentEnvelope.GResend(3)], QueuedTo("#gb").OfType<AgentEnvelope.GResend>());
        // A gap later asks nothing more: the one question is on its way, and the message waits for its answer.
        Assert.True(await WaitsAsync(bobs[3]));
        Assert.Single(QueuedTo("#gb").OfType<AgentEnvelope.GResend>());
    }

    [Fact]
    public async Task An_author_we_have_nothing_of_yet_is_not_asked_we_could_not_tell_what_we_lack()
    {
        await BobIntroducedByAliceWhoSaidAsync(0);

        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);

        Assert.Empty(QueuedTo("#gb").OfType<AgentEnvelope.GResend>());
    }

    [Fact]
    public async Task A_gap_nobody_forwards_any_more_asks_the_author_and_waits_until_its_g_resent_says_that_was_all()
    {
        var bobs = await BobIntroducedByAliceWhoSaidAsync(1);
        await _store.TransactAsync(tx => tx.SetMemberStatus(tx.MemberByConn("#ga")!.Id, MemberStatus.Removed));

        // b4 after b1: Alice would have forwarded b2 and b3; she is gone, so Bob is asked for them.
        Assert.True(await WaitsAsync(bobs[3]));
        Assert.Equal([new AgentEnvelope.GResend(2)], QueuedTo("#gb").OfType<AgentEnvelope.GResend>());

        Assert.True((await ApplyAsync(new AgentEnvelope.GResent(2), "#gb")).Accepted);

        // Bob had nothing more to give: b4 goes on, the gap reported by the chain check.
        Assert.False(await WaitsAsync(bobs[3]));
        Assert.True((await ApplyAsync(bobs[3], "#gb")).Accepted);
        Assert.Contains(await EventsAsync(), e => e.StartsWith("GMSG bob ERR NO_ID 2 3 S=4,", StringComparison.Ordinal));
        // Nor is he asked again.
        Assert.Single(QueuedTo("#gb").OfType<AgentEnvelope.GResend>());
    }

    [Fact]
    public async Task What_the_author_sends_again_is_taken_ahead_of_its_messages_waiting_for_it_and_dropped_in_its_place()
    {
        var bobs = await BobIntroducedByAliceWhoSaidAsync(1);
        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);
        Assert.True(await WaitsAsync(bobs[3]));

        // b2 and b3 again, behind b4 on Bob's connection: taken now, one after the other, in Bob's order.
        Assert.False(await TakesEarlyAsync(bobs[2]));
        Assert.True(await TakesEarlyAsync(bobs[1]));
        Assert.True(await WaitsAsync(bobs[3]));
        Assert.True(await TakesEarlyAsync(bobs[2]));
        Assert.False(await WaitsAsync(bobs[3]));
        Assert.True((await ApplyAsync(bobs[3], "#gb")).Accepted);
        // In their places on the connection, the copies change nothing.
        Assert.True((await ApplyAsync(bobs[1], "#gb")).Accepted);
        Assert.True((await ApplyAsync(bobs[2], "#gb")).Accepted);
        Assert.True(await TakesEarlyAsync(new AgentEnvelope.GResent(2)));
        Assert.True((await ApplyAsync(new AgentEnvelope.GResent(2), "#gb")).Accepted);

        Assert.Equal(["GMSG bob OK S=1,", "GMSG bob OK S=2,", "GMSG bob OK S=3,", "GMSG bob OK S=4,"],
            (await EventsAsync()).Where(e => e.StartsWith("GMSG bob", StringComparison.Ordinal)).Select(e => e[..e.IndexOf(',', StringComparison.Ordinal)] + ","));
    }

    [Fact]
    public async Task Nothing_is_taken_ahead_of_its_place_unless_we_asked_for_it()
    {
        var bobs = await BobIntroducedByAliceWhoSaidAsync(1);

        Assert.False(await TakesEarlyAsync(bobs[1]));
        Assert.False(await TakesEarlyAsync(new AgentEnvelope.GResent(2)));
        Assert.False(await TakesEarlyAsync(new AgentEnvelope.GLeft()));
        Assert.DoesNotContain(await EventsAsync(), e => e.Contains("S=2,", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_member_asking_for_our_messages_again_gets_them_from_that_point_oldest_first_then_g_resent()
    {
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        foreach (var body in new[] { "one", "two", "three" }) await SendOwnAsync(body);
        _conns.Queued.Clear();

        Assert.True((await ApplyAsync(new AgentEnvelope.GResend(2), "#gb")).Accepted);

        var queued = QueuedTo("#gb");
        Assert.Equal([2L, 3L], queued.OfType<AgentEnvelope.GMsg>().Select(m => m.AuthorSeq));
        Assert.Equal(new AgentEnvelope.GResent(2), queued[^1]);
    }

    [Fact]
    public async Task A_leaving_author_still_answers_a_resend_what_it_said_as_a_member_is_not_lost_with_its_leave()
    {
        // Leaving (§6.7) keeps us while Bob, our invitee, is introduced to Alice; Alice asks for what we said.
        await BobsIntroductionToAliceForwardedAsync();
        foreach (var body in new[] { "one", "two" }) await SendOwnAsync(body);
        await LeaveAsync();
        Assert.Equal(GroupStatus.Leaving, await GroupStatusAsync());
        _conns.Queued.Clear();

        Assert.True((await ApplyAsync(new AgentEnvelope.GResend(1))).Accepted);

        var queued = QueuedTo("#ga");
        Assert.Equal([1L, 2L], queued.OfType<AgentEnvelope.GMsg>().Select(m => m.AuthorSeq));
        Assert.Equal(new AgentEnvelope.GResent(1), queued[^1]);
        Assert.Empty(await EventsAsync());
    }

    [Fact]
    public async Task Amplification_a_member_asking_again_and_again_gets_each_of_our_messages_once()
    {
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        foreach (var body in new[] { "one", "two" }) await SendOwnAsync(body);
        Assert.True((await ApplyAsync(new AgentEnvelope.GResend(1), "#gb")).Accepted);
        _conns.Queued.Clear();

        Assert.True((await ApplyAsync(new AgentEnvelope.GResend(1), "#gb")).Accepted);
        Assert.Equal([new AgentEnvelope.GResent(1)], QueuedTo("#gb"));

        // What we said since goes once more, nothing before it.
        await SendOwnAsync("three");
        _conns.Queued.Clear();
        Assert.True((await ApplyAsync(new AgentEnvelope.GResend(1), "#gb")).Accepted);
        Assert.Equal([3L], QueuedTo("#gb").OfType<AgentEnvelope.GMsg>().Select(m => m.AuthorSeq));
    }

    [Fact]
    public async Task Forged_a_resend_from_beyond_anything_we_sent_is_refused_and_changes_nothing()
    {
        await ConnectedMemberAsync("bob", "#gb", Id(0xee));
        await SendOwnAsync("one");
        _conns.Queued.Clear();
        var before = await SnapshotAsync();

        Assert.False((await ApplyAsync(new AgentEnvelope.GResend(3), "#gb")).Accepted);

        Assert.Empty(_conns.Queued);
        Assert.Equal(before, await SnapshotAsync());
        // One past our last is no gap at all: nothing to give, and G_RESENT says so.
        Assert.True((await ApplyAsync(new AgentEnvelope.GResend(2), "#gb")).Accepted);
        Assert.Equal([new AgentEnvelope.GResent(2)], QueuedTo("#gb"));
    }

    [Fact]
    public async Task Out_of_place_a_resend_from_a_member_not_connected_is_refused_and_changes_nothing()
    {
        await BobBeingIntroducedByAliceAsync();
        await SendOwnAsync("one");
        _conns.Queued.Clear();
        var before = await SnapshotAsync();

        Assert.False((await ApplyAsync(new AgentEnvelope.GResend(1), "#gb")).Accepted);

        Assert.Empty(_conns.Queued);
        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task Forged_a_g_resent_we_did_not_ask_for_is_refused_and_changes_nothing()
    {
        var bobs = await BobIntroducedByAliceWhoSaidAsync(1);
        var before = await SnapshotAsync();

        Assert.False((await ApplyAsync(new AgentEnvelope.GResent(2), "#gb")).Accepted);
        Assert.Equal(before, await SnapshotAsync());

        // Nor one for another point than ours: our question stands, and b4 still waits for its answer.
        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);
        Assert.False((await ApplyAsync(new AgentEnvelope.GResent(1), "#gb")).Accepted);
        Assert.True(await WaitsAsync(bobs[3]));
    }

    [Fact]
    public async Task A_member_that_connects_after_its_introducer_went_is_asked_for_what_followed_its_forwards()
    {
        // Dave's queues were made, so his introduction goes on without Alice (§6.11); she forwarded his d1.
        await ConnectedMemberAsync("dave", "#gd", Id(0x77), MemberStatus.Joining, RandomNumberGenerator.GetBytes(12), "#ga");
        var d1 = Message(1, [], "d1");
        Assert.True((await ApplyAsync(new AgentEnvelope.GFwd(Id(0x77), DateTimeOffset.UtcNow, d1))).Accepted);
        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);
        Assert.Empty(QueuedTo("#gd").OfType<AgentEnvelope.GResend>());

        Assert.True((await ApplyAsync(new AgentEnvelope.GHello(Id(0x77)), "#gd")).Accepted);

        Assert.Equal([new AgentEnvelope.GResend(2)], QueuedTo("#gd").OfType<AgentEnvelope.GResend>());
    }

    [Fact]
    public async Task Out_of_place_a_resend_or_resent_on_a_direct_connection_is_refused_and_changes_nothing()
    {
        await SendOwnAsync("one");
        _conns.Queued.Clear();
        var before = await SnapshotAsync();

        Assert.False((await ApplyAsync(new AgentEnvelope.GResend(1), "alice")).Accepted);
        Assert.False((await ApplyAsync(new AgentEnvelope.GResent(1), "alice")).Accepted);

        Assert.Empty(_conns.Queued);
        Assert.Equal(before, await SnapshotAsync());
    }
}
