using System.Security.Cryptography;
using Smp.Agent.Groups;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>An author's messages in its order when some of them come forwarded (groups.md §6.6.1).</summary>
public sealed partial class GroupTests
{
    /// <summary>Alice's new team "team"; Bob (with that hold limit) and Carol are her contacts, not in it yet.</summary>
    private async Task<(Person Alice, Person Bob, Person Carol)> TeamOfAliceWithBobAndCarolInvitableAsync(TimeSpan bobHoldLimit)
    {
        var server = await _h.StartServerAsync();
        var alice = await PersonAsync("alice", server);
        var bobAgent = await _h.StartAgentAsync(_h.Options("bob", server) with { ReorderHoldLimit = bobHoldLimit });
        var bob = new Person("bob", bobAgent, bobAgent.ConnectWatched("bob"));
        var carol = await PersonAsync("carol", server);
        await ConnectAsync(alice, bob);
        await ConnectAsync(alice, carol);
        await alice.Agent.GroupNewAsync(alice.Session, "team", "t"u8.ToArray());
        return (alice, bob, carol);
    }

    /// <summary>
    /// Alice's team with Bob, then Carol, whom Alice introduced to Bob; Carol has said "one" to all. Returns
    /// Bob's alias for Carol and the group connections Carol→Bob (at Carol) and Alice→Bob (at Alice).
    /// </summary>
    private async Task<(Person Alice, Person Bob, Person Carol, string BobsCarol, string CarolToBob, string AliceToBob)> CarolIntroducedToBobAsync(
        TimeSpan bobHoldLimit)
    {
        var (alice, bob, carol) = await TeamOfAliceWithBobAndCarolInvitableAsync(bobHoldLimit);
        await AddAsync(alice, "team", bob, []);
        var carolEvents = new List<AgentOutput>();
        await AddAsync(alice, "team", carol, carolEvents);
        static bool IsNewGcon(AgentOutput o) => o.Alias == "team" && o.Text().StartsWith("GCON ", StringComparison.Ordinal) && o.Text() != "GCON alice";
        var bobsCarol = (await bob.Session.ExpectAsync(IsNewGcon)).Text()[5..];
        var carolsBob = carolEvents.Single(IsNewGcon).Text()[5..];
        await carol.Agent.GroupSendAsync("team", "one"u8.ToArray());
        Assert.EndsWith("one", (await bob.Session.ExpectAsync("team", "GMSG " + bobsCarol)).Text());
        return (alice, bob, carol, bobsCarol, await GroupConnOfAsync(carol, carolsBob), await GroupConnOfAsync(alice, "bob"));
    }

    /// <summary>Carol's next <paramref name="count"/> messages after what she has sent ("m2", "m3", ...), chained, and her member id.</summary>
    private static async Task<(List<AgentEnvelope.GMsg> Next, byte[] CarolId)> CarolsNextAsync(Person carol, int count)
    {
        var g = (await carol.Agent.GroupStateAsync("team")).Group!;
        var next = new List<AgentEnvelope.GMsg>();
        var (seq, prev) = (g.LastSeq, g.LastHash);
        for (var i = 0; i < count; i++)
        {
            seq++;
            var m = new AgentEnvelope.GMsg(RandomNumberGenerator.GetBytes(AgentEnvelope.GroupMsgIdSize), seq, prev, System.Text.Encoding.ASCII.GetBytes($"m{seq}"));
            next.Add(m);
            prev = GroupLayer.GroupMsgHash(m);
        }
        return (next, g.MemberId);
    }

    private static bool IsGroupMessage(AgentOutput o) =>
        o.Alias == "team" && (o.Text().StartsWith("GMSG ", StringComparison.Ordinal) || o.Text().StartsWith("GFMSG ", StringComparison.Ordinal));

    private static async Task ExpectGroupMessageAsync(Person p, string prefix, string body)
    {
        var got = (await p.Session.ExpectAsync(IsGroupMessage)).Text();
        Assert.StartsWith(prefix, got);
        Assert.EndsWith(body, got);
    }

    private static async Task<string> GroupConnOfAsync(Person p, string memberAlias) =>
        (await p.Agent.GroupStateAsync("team")).Members.Single(m => m.DirectAlias == memberAlias).GroupConn;

    /// <summary>Carol sends <paramref name="message"/> to Bob directly; returns Bob's connection from Carol once Bob holds it.</summary>
    private static async Task<string> HeldAtBobAsync(Person carol, string carolToBob, Person bob, string bobsCarol, AgentEnvelope.GMsg message)
    {
        var bobToCarol = await GroupConnOfAsync(bob, bobsCarol);
        await carol.Agent.QueueEnvelopeAsync(carolToBob, message);
        await bob.Agent.WaitForStoreAsync(tx => tx.PeekHeld(bobToCarol, null) is not null, $"Carol's m{message.AuthorSeq} held at Bob");
        return bobToCarol;
    }

    [Fact]
    public async Task An_authors_message_after_a_gap_waits_for_the_forwards_that_fill_it()
    {
        // Found by the simulation (seed 541): the introducer was restarting, so its forward of one of Carol's
        // messages reached Bob after Carol's next ones, sent to him directly, and Bob's client got them out of
        // Carol's order. Here m2 and m3 never went to Bob directly; Alice forwards them once m4 is held.
        var (alice, bob, carol, bobsCarol, carolToBob, aliceToBob) = await CarolIntroducedToBobAsync(TimeSpan.FromMinutes(10));
        var (next, carolId) = await CarolsNextAsync(carol, 3);

        var bobToCarol = await HeldAtBobAsync(carol, carolToBob, bob, bobsCarol, next[2]);
        await alice.Agent.QueueEnvelopeAsync(aliceToBob, new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, next[0]));
        await ExpectGroupMessageAsync(bob, $"GFMSG {bobsCarol} OK S=2,", "m2");
        // m3 is still missing: m4 waits on.
        Assert.True(await bob.Agent.Store.TransactAsync(tx => tx.PeekHeld(bobToCarol, null) is not null));
        await alice.Agent.QueueEnvelopeAsync(aliceToBob, new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, next[1]));

        await ExpectGroupMessageAsync(bob, $"GFMSG {bobsCarol} OK S=3,", "m3");
        await ExpectGroupMessageAsync(bob, $"GMSG {bobsCarol} OK S=4,", "m4");
    }

    [Fact]
    public async Task An_authors_message_after_a_gap_nobody_fills_goes_to_the_client_after_the_hold_limit_with_the_gap_reported()
    {
        var (_, bob, carol, bobsCarol, carolToBob, _) = await CarolIntroducedToBobAsync(TimeSpan.FromMilliseconds(300));
        var (next, _) = await CarolsNextAsync(carol, 2);

        await carol.Agent.QueueEnvelopeAsync(carolToBob, next[1]);

        await ExpectGroupMessageAsync(bob, $"GMSG {bobsCarol} ERR NO_ID 2 2 S=3,", "m3");
    }

    [Fact]
    public async Task An_authors_message_waiting_for_a_forward_goes_on_with_the_gap_reported_when_the_introducer_leaves_and_the_author_has_no_more()
    {
        var (alice, bob, carol, bobsCarol, carolToBob, _) = await CarolIntroducedToBobAsync(TimeSpan.FromMinutes(10));
        // m2 is in no history: not even Carol can give it again (her G_RESENT says so).
        var (next, _) = await CarolsNextAsync(carol, 2);
        await HeldAtBobAsync(carol, carolToBob, bob, bobsCarol, next[1]);

        // Nobody else could forward m2.
        await alice.Agent.GroupLeaveAsync("team");

        await ExpectGroupMessageAsync(bob, $"GMSG {bobsCarol} ERR NO_ID 2 2 S=3,", "m3");
    }

    [Fact]
    public async Task An_authors_messages_lost_with_the_introducer_come_again_from_the_author_in_its_order_and_once()
    {
        // Seed 720: Carol said m2 and m3 before she heard of Bob, so only Alice, who was introducing them, could
        // forward them to him; Alice went before her forwards reached him. Bob asks Carol for them (G_RESEND).
        var (alice, bob, carol, bobsCarol, carolToBob, _) = await CarolIntroducedToBobAsync(TimeSpan.FromMinutes(10));
        var (next, carolId) = await CarolsNextAsync(carol, 3);
        await carol.Agent.Store.TransactAsync(tx =>
        {
            // Said by Carol as far as her agent knows (her history and chain), but only m4 ever went to Bob.
            foreach (var m in next)
            {
                tx.AppendHistory("team", carolId, DateTimeOffset.UtcNow, m, AgentOptions.DefaultGroupHistorySize);
                tx.SetGroupChain("team", m.AuthorSeq, GroupLayer.GroupMsgHash(m));
            }
        });
        await HeldAtBobAsync(carol, carolToBob, bob, bobsCarol, next[2]);

        await alice.Agent.GroupLeaveAsync("team");

        await ExpectGroupMessageAsync(bob, $"GMSG {bobsCarol} OK S=2,", "m2");
        await ExpectGroupMessageAsync(bob, $"GMSG {bobsCarol} OK S=3,", "m3");
        await ExpectGroupMessageAsync(bob, $"GMSG {bobsCarol} OK S=4,", "m4");
        // Carol gave m4 again too; Bob drops that copy, so her next message is the next he gets.
        await carol.Agent.GroupSendAsync("team", "m5"u8.ToArray());
        await ExpectGroupMessageAsync(bob, $"GMSG {bobsCarol} OK S=5,", "m5");
    }

    [Fact]
    public async Task A_newcomer_with_nothing_of_an_author_yet_holds_its_first_direct_message_until_the_forwards_before_it_came()
    {
        // Seed 8433: Carol, Alice's invitee, had said nothing Alice kept when Bob joined; Carol's third message
        // reached Bob directly before Alice's forwards of her first two. Alice's G_HEAD told Bob that Carol's
        // chain starts at her first message, so the third waits for them.
        var (alice, bob, carol) = await TeamOfAliceWithBobAndCarolInvitableAsync(TimeSpan.FromMinutes(10));
        await AddAsync(alice, "team", carol, []);
        var bobEvents = new List<AgentOutput>();
        await AddAsync(alice, "team", bob, bobEvents);
        static bool IsNewGcon(AgentOutput o) => o.Alias == "team" && o.Text().StartsWith("GCON ", StringComparison.Ordinal) && o.Text() != "GCON alice";
        var bobsCarol = bobEvents.Single(IsNewGcon).Text()[5..];
        var carolsBob = (await carol.Session.ExpectAsync(IsNewGcon)).Text()[5..];
        var (next, carolId) = await CarolsNextAsync(carol, 3);

        await HeldAtBobAsync(carol, await GroupConnOfAsync(carol, carolsBob), bob, bobsCarol, next[2]);
        var aliceToBob = await GroupConnOfAsync(alice, "bob");
        foreach (var m in next.Take(2)) await alice.Agent.QueueEnvelopeAsync(aliceToBob, new AgentEnvelope.GFwd(carolId, DateTimeOffset.UtcNow, m));

        await ExpectGroupMessageAsync(bob, $"GFMSG {bobsCarol} OK S=1,", "m1");
        await ExpectGroupMessageAsync(bob, $"GFMSG {bobsCarol} OK S=2,", "m2");
        await ExpectGroupMessageAsync(bob, $"GMSG {bobsCarol} OK S=3,", "m3");
    }
}
