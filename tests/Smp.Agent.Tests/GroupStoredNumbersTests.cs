using Smp.Agent.Groups;

namespace Smp.Agent.Tests;

/// <summary>Group states are stored as numbers (groups.md §5): frozen, new ones only appended.</summary>
public sealed class GroupStoredNumbersTests
{
    [Fact]
    public void Group_statuses_keep_their_numbers() =>
        Assert.Equal([(GroupStatus.Active, 1), (GroupStatus.Left, 2), (GroupStatus.Removed, 3), (GroupStatus.Deleted, 4), (GroupStatus.Leaving, 5)],
            Enum.GetValues<GroupStatus>().Select(s => (s, (int)s)));

    [Fact]
    public void Member_statuses_keep_their_numbers() =>
        Assert.Equal([(MemberStatus.Invited, 1), (MemberStatus.Joining, 2), (MemberStatus.Connected, 3), (MemberStatus.Left, 4), (MemberStatus.Removed, 5),
                (MemberStatus.Rejected, 6), (MemberStatus.Failed, 7)],
            Enum.GetValues<MemberStatus>().Select(s => (s, (int)s)));

    [Fact]
    public void Introduction_statuses_keep_their_numbers() =>
        Assert.Equal([(IntroductionStatus.Pending, 1), (IntroductionStatus.InvitationsReceived, 2), (IntroductionStatus.Forwarded, 3),
                (IntroductionStatus.Connected, 4), (IntroductionStatus.Failed, 5)],
            Enum.GetValues<IntroductionStatus>().Select(s => (s, (int)s)));

    [Fact]
    public void Bridge_states_keep_their_numbers() =>
        Assert.Equal([(BridgeState.None, 0), (BridgeState.Awaited, 1), (BridgeState.GivenUp, 2)],
            Enum.GetValues<BridgeState>().Select(s => (s, (int)s)));
}
