using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>The moments between GJOIN and GALL: a newcomer that speaks at once, an inviter that leaves at once (groups.md §6.6, §6.7).</summary>
public sealed partial class GroupTests
{
    /// <summary>Alice's group with Bob in it; Carol connected directly to Alice and invited by her (GINV read).</summary>
    private async Task<(Person Alice, Person Bob, Person Carol, byte[] InvId)> CarolInvitedToAliceAndBobAsync()
    {
        var (alice, bob, carol) = await AliceConnectedToBobAndCarolAsync();
        await alice.Agent.GroupNewAsync(alice.Session, "team", "t"u8.ToArray());
        await AddAsync(alice, "team", bob, []);
        await alice.Agent.GroupAddAsync("team", "carol");
        var ginv = await carol.Session.ExpectAsync("alice", "GINV");
        return (alice, bob, carol, Convert.FromBase64String(ginv.Text().Split(' ')[1]));
    }

    [Fact]
    public async Task An_invitee_removed_by_its_inviter_before_it_joined_cannot_join_any_more()
    {
        var (alice, _, carol, invId) = await CarolInvitedToAliceAndBobAsync();

        await alice.Agent.GroupRemoveAsync("team", "carol");
        // On the same direct connection as the withdrawal, so after it.
        await alice.Agent.SendAsync("1", "carol", "after"u8.ToArray());
        await carol.Session.ExpectAsync("alice", "MSG");

        var refused = await Assert.ThrowsAsync<AgentProtocolException>(() => carol.Agent.GroupJoinAsync(carol.Session, "team", invId));
        Assert.Equal("GROUP UNKNOWN", refused.Error.ToString());
    }

    [Fact]
    public async Task A_message_sent_right_after_gjoin_reaches_the_inviter_and_the_others_once()
    {
        var (alice, bob, carol, invId) = await CarolInvitedToAliceAndBobAsync();

        await carol.Agent.GroupJoinAsync(carol.Session, "team", invId);
        // Before anyone is connected to Carol: it goes after her G_JOIN, to Alice, who relays it to Bob.
        await carol.Agent.GroupSendAsync("team", "first words"u8.ToArray());

        var atAlice = await alice.Session.ExpectAsync("team", "GMSG carol");
        Assert.Contains(" OK S=1,", atAlice.Text());
        var bobSeen = new List<AgentOutput>();
        var atBob = await bob.Session.ExpectAsync(o => o.Alias == "team" && o.Text().EndsWith("first words", StringComparison.Ordinal), bobSeen);
        Assert.Matches("^G(F)?MSG ", atBob.Text());
        await carol.Session.ExpectAsync("team", "GALL alice");
        // Connected now; her next message comes directly, and the first has come once.
        await carol.Agent.GroupSendAsync("team", "second"u8.ToArray());
        await bob.Session.ExpectAsync(o => o.Alias == "team" && o.Text().EndsWith("second", StringComparison.Ordinal), bobSeen);
        Assert.DoesNotContain(bobSeen, o => o.Text().EndsWith("first words", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_inviter_that_leaves_right_after_its_invitee_joined_first_brings_it_in()
    {
        var (alice, bob, carol, invId) = await CarolInvitedToAliceAndBobAsync();
        await carol.Agent.GroupJoinAsync(carol.Session, "team", invId);
        await alice.Session.ExpectAsync("team", "GCON carol");

        // Carol knows only Alice: Alice's leave waits until Carol is introduced to Bob (§6.7).
        await alice.Agent.GroupLeaveAsync("team");

        var carolSeen = new List<AgentOutput>();
        await carol.Session.ExpectAsync("team", "GALL alice", carolSeen);
        await carol.Session.ExpectAsync("team", "GLEFT alice", carolSeen);
        await bob.Session.ExpectAsync("team", "GLEFT alice");
        await carol.Agent.GroupSendAsync("team", "just us"u8.ToArray());
        var atBob = await bob.Session.ExpectAsync("team", "GMSG");
        Assert.EndsWith("just us", atBob.Text());
        var refused = await Assert.ThrowsAsync<AgentProtocolException>(() => alice.Agent.GroupSendAsync("team", "x"u8.ToArray()));
        Assert.Equal("GROUP NOT_MEMBER", refused.Error.ToString());
    }
}
