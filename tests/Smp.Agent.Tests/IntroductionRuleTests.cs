using Smp.Agent.Groups;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>The pure rule of converging membership (groups.md §6.11).</summary>
public sealed class IntroductionRuleTests
{
    private static byte[] Id(byte b) => Enumerable.Repeat(b, 16).ToArray();

    private static Dictionary<string, MemberViewState> View(params (byte Id, MemberViewState State)[] entries) =>
        entries.ToDictionary(e => IntroductionRule.Key(Id(e.Id)), e => e.State);

    [Fact]
    public void A_pair_that_does_not_know_each_other_is_introduced_when_no_smaller_member_is_connected_to_both()
    {
        Assert.True(IntroductionRule.ShouldIntroduce(Id(5), Id(7), View(), Id(9), View()));
        // A common member with a larger id does not matter; one connected to only one of them neither.
        Assert.True(IntroductionRule.ShouldIntroduce(Id(5), Id(7), View((8, MemberViewState.Connected)), Id(9), View((8, MemberViewState.Connected))));
        Assert.True(IntroductionRule.ShouldIntroduce(Id(5), Id(7), View((1, MemberViewState.Connected)), Id(9), View((1, MemberViewState.Pending))));
    }

    [Fact]
    public void A_smaller_member_connected_to_both_introduces_them_instead()
    {
        Assert.False(IntroductionRule.ShouldIntroduce(Id(5), Id(7), View((1, MemberViewState.Connected)), Id(9), View((1, MemberViewState.Connected))));
    }

    [Theory]
    [InlineData(MemberViewState.Connected)]
    [InlineData(MemberViewState.Pending)]
    [InlineData(MemberViewState.Left)]
    [InlineData(MemberViewState.Removed)]
    public void A_pair_where_either_names_the_other_in_any_state_is_left_alone(MemberViewState state)
    {
        Assert.False(IntroductionRule.ShouldIntroduce(Id(5), Id(7), View((9, state)), Id(9), View()));
        Assert.False(IntroductionRule.ShouldIntroduce(Id(5), Id(7), View(), Id(9), View((7, state))));
    }

    [Fact]
    public void The_member_with_the_smaller_id_makes_the_queues()
    {
        Assert.True(IntroductionRule.MakesQueues(Id(3), Id(4)));
        Assert.False(IntroductionRule.MakesQueues(Id(4), Id(3)));
        // Unsigned bytes: 0x80 is larger than 0x7f.
        Assert.True(IntroductionRule.MakesQueues(Id(0x7f), Id(0x80)));
    }

    [Fact]
    public void Of_two_racing_introductions_the_smaller_introducers_survives_and_an_introducers_newer_one_replaces_its_older()
    {
        Assert.True(IntroductionRule.Supersedes(Id(1), Id(2)));
        Assert.False(IntroductionRule.Supersedes(Id(2), Id(1)));
        Assert.True(IntroductionRule.Supersedes(Id(2), Id(2)));
    }

    [Fact]
    public void Of_two_leavers_introducing_their_newcomers_to_each_other_exactly_one_stays_as_the_bridge()
    {
        Assert.True(IntroductionRule.BridgesWhileLeaving(Id(1), Id(2), introducerIsOurInvitee: false));
        Assert.False(IntroductionRule.BridgesWhileLeaving(Id(2), Id(1), introducerIsOurInvitee: false));
        Assert.True(IntroductionRule.BridgesWhileLeaving(Id(0x7f), Id(0x80), introducerIsOurInvitee: false));
    }

    [Fact]
    public void A_leaver_stays_as_the_bridge_for_its_own_invitee_whatever_the_ids()
    {
        Assert.True(IntroductionRule.BridgesWhileLeaving(Id(2), Id(1), introducerIsOurInvitee: true));
        Assert.True(IntroductionRule.BridgesWhileLeaving(Id(1), Id(2), introducerIsOurInvitee: true));
    }
}
