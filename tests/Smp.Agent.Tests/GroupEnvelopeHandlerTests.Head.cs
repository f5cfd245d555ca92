using System.Security.Cryptography;
using System.Text;
using Smp.Agent.Store;
using Smp.Agent.Groups;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>
/// G_HEAD (groups.md §6.6.1): an introducer that gives a member none of an author's messages says where the
/// author's chain stands, so that the member can tell a gap before the author's first direct message (seed 8433).
/// </summary>
public sealed partial class GroupEnvelopeHandlerTests
{
    private static AgentEnvelope.GHead HeadOf(byte[] author, long seq = 0, byte[]? hash = null) => new([new(author, seq, hash ?? [])]);

    private List<ChainHeadEntry> HeadsQueuedTo(string conn) => QueuedTo(conn).OfType<AgentEnvelope.GHead>().SelectMany(h => h.Heads).ToList();

    private Task<MemberRecord> MemberAsync(string conn) => _store.TransactAsync(tx => tx.MemberByConn(conn)!);

    private static string Delivered(string e) => e[..e.IndexOf(',', StringComparison.Ordinal)];

    [Fact]
    public async Task With_its_introducers_g_head_the_authors_first_direct_message_after_a_gap_waits_for_the_forwards_before_it()
    {
        // Seed 8433: a3 had none of a5's messages; a5's fourth came directly before a0's forwards of the first three.
        await BobIntroducedByAliceWhoSaidAsync(0);
        var bobs = BobsMessages(3);
        Assert.False(await WaitsAsync(bobs[2]));

        Assert.True((await ApplyAsync(HeadOf(Id(0xee)))).Accepted);

        Assert.True(await WaitsAsync(bobs[2]));
        foreach (var m in bobs.Take(2)) Assert.True((await ApplyAsync(new AgentEnvelope.GFwd(Id(0xee), DateTimeOffset.UtcNow, m))).Accepted);
        Assert.False(await WaitsAsync(bobs[2]));
        Assert.True((await ApplyAsync(bobs[2], "#gb")).Accepted);
        Assert.Equal(["GFMSG bob OK S=1", "GFMSG bob OK S=2", "GMSG bob OK S=3"], (await EventsAsync()).Select(Delivered));
    }

    [Fact]
    public async Task A_g_head_with_a_position_checks_the_authors_next_message_against_it()
    {
        await BobIntroducedByAliceWhoSaidAsync(0);
        var bobs = BobsMessages(4);

        Assert.True((await ApplyAsync(HeadOf(Id(0xee), 2, GroupLayer.GroupMsgHash(bobs[1])))).Accepted);

        Assert.False(await WaitsAsync(bobs[2]));
        Assert.True(await WaitsAsync(bobs[3]));
        Assert.True((await ApplyAsync(bobs[2], "#gb")).Accepted);
        Assert.StartsWith("GMSG bob OK S=3,", Assert.Single(await EventsAsync()));
        // A message that does not follow the head it was given is reported, as after a message had.
        Assert.True((await ApplyAsync(Message(4, GroupLayer.GroupMsgHash(bobs[0]), "b4?"), "#gb")).Accepted);
        Assert.StartsWith("GMSG bob ERR HASH S=4,", (await EventsAsync())[1]);
    }

    [Fact]
    public async Task A_first_message_that_does_not_follow_the_head_we_were_told_is_reported_with_its_gap_direct_or_forwarded()
    {
        await BobIntroducedByAliceWhoSaidAsync(0);
        var bobs = BobsMessages(3);
        Assert.True((await ApplyAsync(HeadOf(Id(0xee)))).Accepted);

        Assert.True((await ApplyAsync(new AgentEnvelope.GFwd(Id(0xee), DateTimeOffset.UtcNow, bobs[1]))).Accepted);
        Assert.True((await ApplyAsync(bobs[2], "#gb")).Accepted);

        Assert.Equal(["GFMSG bob ERR NO_ID 1 1 S=2", "GMSG bob OK S=3"], (await EventsAsync()).Select(Delivered));
    }

    [Fact]
    public async Task A_direct_first_message_after_the_head_we_were_told_is_reported_with_its_gap()
    {
        await BobIntroducedByAliceWhoSaidAsync(0);
        Assert.True((await ApplyAsync(HeadOf(Id(0xee)))).Accepted);

        // Applied as after the hold limit: the gap it leaves is said.
        Assert.True((await ApplyAsync(BobsMessages(2)[1], "#gb")).Accepted);

        Assert.Equal(["GMSG bob ERR NO_ID 1 1 S=2"], (await EventsAsync()).Select(Delivered));
    }

    [Fact]
    public async Task A_g_head_after_we_have_the_authors_messages_changes_nothing()
    {
        var bobs = await BobIntroducedByAliceWhoSaidAsync(2);

        Assert.True((await ApplyAsync(HeadOf(Id(0xee)))).Accepted);

        var bob = await MemberAsync("#gb");
        Assert.Equal(2, bob.LastSeq);
        Assert.Equal(GroupLayer.GroupMsgHash(bobs[1]), bob.LastHash);
        Assert.False(await WaitsAsync(bobs[2]));
    }

    [Fact]
    public async Task A_second_g_head_does_not_move_the_one_we_took()
    {
        await BobIntroducedByAliceWhoSaidAsync(0);
        var bobs = BobsMessages(3);
        Assert.True((await ApplyAsync(HeadOf(Id(0xee)))).Accepted);

        Assert.True((await ApplyAsync(HeadOf(Id(0xee), 2, GroupLayer.GroupMsgHash(bobs[1])))).Accepted);

        Assert.Equal(0, (await MemberAsync("#gb")).LastSeq);
        Assert.True(await WaitsAsync(bobs[2]));
    }

    [Fact]
    public async Task A_forged_g_head_from_a_member_that_did_not_introduce_the_author_is_refused_and_changes_nothing()
    {
        await ConnectedMemberAsync("carol", "#gc", Id(0xcc));
        await BobIntroducedByAliceWhoSaidAsync(0);
        var before = await SnapshotAsync();

        Assert.False((await ApplyAsync(HeadOf(Id(0xee)), "#gc")).Accepted);

        Assert.Equal(before, await SnapshotAsync());
        Assert.False(await WaitsAsync(BobsMessages(3)[2]));
    }

    [Fact]
    public async Task A_g_head_with_one_forged_entry_is_refused_whole_and_changes_nothing()
    {
        await ConnectedMemberAsync("carol", "#gc", Id(0xcc));
        await BobIntroducedByAliceWhoSaidAsync(0);
        var before = await SnapshotAsync();

        // Bob's entry is Alice's to give; Carol's (no introducer) is nobody's; a repeated entry is not a head either.
        Assert.False((await ApplyAsync(new AgentEnvelope.GHead([new(Id(0xee), 0, []), new(Id(0xcc), 0, [])]))).Accepted);
        Assert.False((await ApplyAsync(new AgentEnvelope.GHead([new(Id(0xee), 0, []), new(Id(0xee), 0, [])]))).Accepted);

        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_g_head_about_ourselves_an_unknown_member_or_a_member_nobody_introduced_to_us_is_refused()
    {
        await ConnectedMemberAsync("carol", "#gc", Id(0xcc));
        await BobIntroducedByAliceWhoSaidAsync(0);
        var before = await SnapshotAsync();

        Assert.False((await ApplyAsync(HeadOf(OurId))).Accepted);
        Assert.False((await ApplyAsync(HeadOf(Id(0x42)))).Accepted);
        // Carol came to us with no introducer (our inviter or invitee): nobody forwards her messages.
        Assert.False((await ApplyAsync(HeadOf(Id(0xcc)))).Accepted);
        Assert.False((await ApplyAsync(HeadOf(Id(0xee)), "#gb")).Accepted);

        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_g_head_about_a_member_that_has_failed_or_left_meanwhile_changes_nothing_quietly()
    {
        // Seen in GroupConvergenceTests: the introduction lost a race, its queues met AUTH, then the G_HEAD came.
        await BobIntroducedByAliceWhoSaidAsync(0);
        await _store.TransactAsync(tx => tx.SetMemberStatus(tx.MemberByConn("#gb")!.Id, MemberStatus.Failed));
        var before = await SnapshotAsync();

        Assert.True((await ApplyAsync(HeadOf(Id(0xee)))).Accepted);

        Assert.Equal(before, await SnapshotAsync());
    }

    [Fact]
    public async Task A_g_head_from_a_member_with_views_about_an_author_another_introduced_changes_nothing_quietly()
    {
        await ConnectedMemberAsync("carol", "#gc", Id(0xcc));
        Assert.True((await ApplyAsync(ViewOf(), "#gc")).Accepted);
        await BobIntroducedByAliceWhoSaidAsync(0);
        var before = await SnapshotAsync();

        // Carol lost a race to introduce Bob to us: not hers to give.
        Assert.True((await ApplyAsync(HeadOf(Id(0xee)), "#gc")).Accepted);

        Assert.Equal(before, await SnapshotAsync());
        Assert.False(await WaitsAsync(BobsMessages(3)[2]));
    }

    [Fact]
    public async Task A_leaving_member_still_takes_a_g_head_it_delivers_what_it_is_forwarded_meanwhile()
    {
        await BobIntroducedByAliceWhoSaidAsync(0);
        await _store.TransactAsync(tx => tx.SetGroupStatus("g", GroupStatus.Leaving));

        Assert.True((await ApplyAsync(HeadOf(Id(0xee)))).Accepted);

        Assert.True((await MemberAsync("#gb")).HasChainHead);
    }

    [Fact]
    public async Task With_the_authors_chain_known_from_its_start_we_ask_it_from_its_first_message_when_the_introducer_goes()
    {
        await BobIntroducedByAliceWhoSaidAsync(0);
        Assert.True((await ApplyAsync(HeadOf(Id(0xee)))).Accepted);

        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);

        Assert.Equal([new AgentEnvelope.GResend(1)], QueuedTo("#gb").OfType<AgentEnvelope.GResend>());
    }

    [Fact]
    public async Task An_inviter_tells_its_newcomer_where_the_chains_stand_of_the_members_it_gives_no_history_of()
    {
        // Carol, our earlier invitee, has said nothing: her next message is her first. Dave's two are history.
        // Erin's messages are no longer kept, but we know where her chain stands. Of Alice we know nothing.
        var carolId = Id(0xcc);
        var daveId = Id(0xdd);
        var erinId = Id(0xe1);
        await _store.TransactAsync(tx =>
        {
            tx.InsertConnection(new ConnectionRecord("#gc", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
            tx.InsertMember(new MemberRecord(0, "g", carolId, "carol", "#gc", 2, MemberStatus.Connected, true,
                RandomNumberGenerator.GetBytes(AgentEnvelope.InvitationIdSize), null, "", true, true, 0, []));
        });
        await ConnectedMemberAsync("dave", "#gd", daveId);
        var erin = await ConnectedMemberAsync("erin", "#ge", erinId);
        var erinsHash = AgentSamplesHash("erin's seventh");
        await _store.TransactAsync(tx => tx.SetMemberChain(erin, 7, erinsHash));
        var dave1 = Message(1, [], "d1");
        Assert.True((await ApplyAsync(dave1, "#gd")).Accepted);
        Assert.True((await ApplyAsync(Message(2, GroupLayer.GroupMsgHash(dave1), "d2"), "#gd")).Accepted);
        var (invId, bobId) = await BobInvitedAsync();
        _conns.Queued.Clear();

        Assert.True((await ApplyAsync(new AgentEnvelope.GJoin(invId, bobId), conn: "#gb")).Accepted);

        var toBob = QueuedTo("#gb");
        // One envelope for all of them, after the G_MEMs that give the newcomer records of the authors.
        var head = Assert.IsType<AgentEnvelope.GHead>(Assert.Single(toBob, e => e is AgentEnvelope.GHead));
        Assert.True(toBob.IndexOf(head) > toBob.FindLastIndex(e => e is AgentEnvelope.GMem));
        Assert.Equal(2, head.Heads.Count);
        var carols = Assert.Single(head.Heads, h => h.MemberId.SequenceEqual(carolId));
        Assert.Equal((0L, 0), (carols.LastSeq, carols.LastHash.Length));
        var erins = Assert.Single(head.Heads, h => h.MemberId.SequenceEqual(erinId));
        Assert.Equal(7, erins.LastSeq);
        Assert.Equal(erinsHash, erins.LastHash);
        Assert.Equal([1L, 2L], toBob.OfType<AgentEnvelope.GHist>().Select(h => h.Message.AuthorSeq));
    }

    [Fact]
    public async Task At_g_mem_inv_an_introducer_with_none_of_its_invitees_messages_says_its_next_one_is_its_first()
    {
        var (introId, _) = await BobInvitedAndIntroductionPendingAsync();
        var bobId = (await MemberAsync("#gb")).MemberId!;

        Assert.True((await ApplyAsync(new AgentEnvelope.GInvMem(introId, Queue(), Queue()), conn: "#gb")).Accepted);

        var toAlice = QueuedTo("#ga");
        Assert.IsType<AgentEnvelope.GMemInv>(toAlice[0]);
        var head = Assert.Single(HeadsQueuedTo("#ga"));
        Assert.Equal(bobId, head.MemberId);
        Assert.Equal(0, head.LastSeq);
    }

    [Fact]
    public async Task At_g_mem_inv_an_introducer_that_replays_its_invitees_messages_sends_no_g_head()
    {
        var (introId, _) = await BobInvitedAndIntroductionPendingAsync();
        Assert.True((await ApplyAsync(Message(1, [], "early"), "#gb")).Accepted);
        _conns.Queued.Clear();

        Assert.True((await ApplyAsync(new AgentEnvelope.GInvMem(introId, Queue(), Queue()), conn: "#gb")).Accepted);

        Assert.Equal([AgentEnvelopeKind.GMemInv, AgentEnvelopeKind.GFwd], QueuedTo("#ga").Select(e => e.Kind));
    }

    [Fact]
    public async Task Members_introduced_by_the_rule_that_we_know_nothing_of_get_no_g_head()
    {
        await MissingPairAsync();

        Assert.Single(QueuedOf<AgentEnvelope.GMem>());
        Assert.Empty(QueuedOf<AgentEnvelope.GHead>());
    }

    [Fact]
    public async Task Heads_of_more_members_than_one_envelope_holds_go_in_several_each_within_the_padded_size()
    {
        var ids = new List<byte[]>();
        await _store.TransactAsync(tx =>
        {
            for (var i = 0; i < 45; i++)
            {
                var id = RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize);
                ids.Add(id);
                tx.InsertConnection(new ConnectionRecord($"#g{i}", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
                var m = tx.InsertMember(new MemberRecord(0, "g", id, $"m{i}", $"#g{i}", 2, MemberStatus.Connected, false, null, null, "", true, true, 0, []));
                tx.SetMemberChain(m, 1_000_000 + i, AgentSamplesHash($"m{i}"));
            }
        });
        var (invId, bobId) = await BobInvitedAsync();
        _conns.Queued.Clear();

        Assert.True((await ApplyAsync(new AgentEnvelope.GJoin(invId, bobId), conn: "#gb")).Accepted);

        var heads = QueuedTo("#gb").OfType<AgentEnvelope.GHead>().ToList();
        Assert.True(heads.Count > 1);
        Assert.All(heads, h => Assert.True(global::Smp.Agent.Connections.Envelopes.Fits(h)));
        Assert.Equal(ids.Select(Convert.ToHexString).Order(), heads.SelectMany(h => h.Heads).Select(h => Convert.ToHexString(h.MemberId)).Order());
    }

    private static byte[] AgentSamplesHash(string s) => AgentPlaintextCodec.Hash(Encoding.ASCII.GetBytes(s));
}
