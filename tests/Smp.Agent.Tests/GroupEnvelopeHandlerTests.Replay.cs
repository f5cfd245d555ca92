using System.Security.Cryptography;
using Smp.Agent.Groups;
using Smp.Agent.Runtime;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>Our own messages that a member being introduced to us depended on its introducer for (groups.md §6.6.1).</summary>
public sealed partial class GroupEnvelopeHandlerTests
{
    /// <summary>Bob, introduced to us by Alice ("#ga"), still joining: we joined his queue and said hello.</summary>
    private Task<long> BobBeingIntroducedByAliceAsync() =>
        ConnectedMemberAsync("bob", "#gb", Id(0xee), MemberStatus.Joining, RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize), "#ga");

    /// <summary>GSEND's transaction.</summary>
    private Task<AgentEnvelope.GMsg> SendOwnAsync(string body) => _store.TransactAsync(tx =>
        _handler.Relay.SendOwn(tx, tx.GetGroup("g")!, RandomNumberGenerator.GetBytes(AgentEnvelope.GroupMsgIdSize), System.Text.Encoding.UTF8.GetBytes(body), new Effects()));

    private List<long> OwnSeqsQueuedTo(string conn) =>
        _conns.Queued.Where(q => q.Alias == conn && q.Envelope is AgentEnvelope.GMsg).Select(q => ((AgentEnvelope.GMsg)q.Envelope).AuthorSeq).ToList();

    [Theory]
    [InlineData("G_LEFT")]
    [InlineData("tombstone")]
    public async Task What_we_said_while_a_member_was_introduced_goes_to_it_from_us_once_its_introducer_is_gone(string how)
    {
        // Seed 3064: the introducer had our messages to forward, and was removed before its forwards arrived.
        await ConnectedMemberAsync("carol", "#gc", Id(0xcc));
        Assert.True((await ApplyAsync(ViewOf(), "#gc")).Accepted);
        var bob = await BobBeingIntroducedByAliceAsync();
        await SendOwnAsync("while bob was joining");
        Assert.Equal([1], OwnSeqsQueuedTo("#ga"));
        Assert.Empty(OwnSeqsQueuedTo("#gb"));

        Assert.True((await ApplyAsync(new AgentEnvelope.GHello(Id(0xee)), "#gb")).Accepted);
        await SendOwnAsync("once connected");
        // While Alice is there her forward may still be on its way: nothing again, or it could overtake it.
        Assert.Equal([2], OwnSeqsQueuedTo("#gb"));
        _conns.Queued.Clear();

        var gone = how == "G_LEFT"
            ? await ApplyAsync(new AgentEnvelope.GLeft())
            : await ApplyAsync(ViewOf((AliceId, MemberViewState.Removed)), "#gc");
        Assert.True(gone.Accepted);

        Assert.Equal([1], OwnSeqsQueuedTo("#gb"));
        Assert.Equal((0, 0), await _store.TransactAsync(tx => tx.TakeMissed(bob)));
    }

    [Fact]
    public async Task A_member_connected_with_nothing_missed_gets_nothing_again_when_its_introducer_goes()
    {
        await BobBeingIntroducedByAliceAsync();
        Assert.True((await ApplyAsync(new AgentEnvelope.GHello(Id(0xee)), "#gb")).Accepted);
        await SendOwnAsync("once connected");
        _conns.Queued.Clear();

        Assert.True((await ApplyAsync(new AgentEnvelope.GLeft())).Accepted);

        Assert.Empty(OwnSeqsQueuedTo("#gb"));
    }
}
