using System.Security.Cryptography;
using System.Text;
using Smp.Agent.Groups;
using Smp.Agent.Runtime;
using Smp.Agent.Store;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>Who is who (groups.md §6.12): G_INFO accepted and refused, and our own info sent after our hello.</summary>
public sealed partial class GroupEnvelopeHandlerTests
{
    /// <summary>The refusal snapshot plus every member's info, which the member records do not carry.</summary>
    private async Task<string> SnapshotWithInfoAsync() => await SnapshotAsync() + "\n" + await _store.TransactAsync(tx =>
        string.Join("\n", tx.MemberInfos("g").OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}:{Convert.ToHexString(kv.Value)}")));

    private Task<byte[]> AliceInfoAsync() => _store.TransactAsync(tx => tx.GetMemberInfo(tx.MemberById("g", AliceId)!.Id));

    private static AgentEnvelope.GInfo Info(string text) => new(Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task A_members_own_info_is_stored_and_notified_and_a_later_one_replaces_it()
    {
        var (accepted, _) = await ApplyAsync(Info("Alice"));
        Assert.True(accepted);
        Assert.Equal("Alice"u8.ToArray(), await AliceInfoAsync());

        (accepted, _) = await ApplyAsync(Info("Alice B."));

        Assert.True(accepted);
        Assert.Equal("Alice B."u8.ToArray(), await AliceInfoAsync());
        Assert.Equal(["GMINFO alice 5\nAlice", "GMINFO alice 8\nAlice B."], await EventsAsync());
    }

    [Fact]
    public async Task An_info_of_exactly_the_size_limit_is_accepted()
    {
        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GInfo(new byte[GroupLayer.MaxMemberInfoSize]));

        Assert.True(accepted);
        Assert.Equal(GroupLayer.MaxMemberInfoSize, (await AliceInfoAsync()).Length);
    }

    [Fact]
    public async Task An_oversized_info_is_refused_and_changes_nothing()
    {
        await ApplyAsync(Info("Alice"));
        var before = await SnapshotWithInfoAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GInfo(new byte[GroupLayer.MaxMemberInfoSize + 1]));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotWithInfoAsync());
        Assert.Equal("Alice"u8.ToArray(), await AliceInfoAsync());
    }

    [Fact]
    public async Task A_forged_info_on_a_direct_connection_is_refused_and_changes_nothing()
    {
        var before = await SnapshotWithInfoAsync();

        var (accepted, _) = await ApplyAsync(Info("Mallory"), conn: "alice");

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotWithInfoAsync());
    }

    [Fact]
    public async Task An_info_from_a_member_not_connected_yet_is_refused_and_changes_nothing()
    {
        // Carol is being introduced: her G_HELLO has not come, so nothing she says about herself counts yet.
        await CarolBeingIntroducedAsync(RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize));
        var before = await SnapshotWithInfoAsync();

        var (accepted, _) = await ApplyAsync(Info("Carol"), conn: "#gc");

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotWithInfoAsync());
    }

    [Fact]
    public async Task An_info_from_a_member_who_left_is_refused_and_changes_nothing()
    {
        await ApplyAsync(new AgentEnvelope.GLeft());
        var before = await SnapshotWithInfoAsync();

        var (accepted, _) = await ApplyAsync(Info("Alice"));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotWithInfoAsync());
    }

    [Fact]
    public async Task An_info_in_a_group_we_left_is_refused_and_changes_nothing()
    {
        await _store.TransactAsync(tx => tx.SetGroupStatus("g", GroupStatus.Left));
        var before = await SnapshotWithInfoAsync();

        var (accepted, _) = await ApplyAsync(Info("Alice"));

        Assert.False(accepted);
        Assert.Equal(before, await SnapshotWithInfoAsync());
    }

    /// <summary>We invited Bob on "#gb" (invitation <c>invId</c>, member id <c>bobId</c>); his G_JOIN has not come.</summary>
    private Task<(byte[] InvId, byte[] BobId)> BobInvitedAsync() => _store.TransactAsync(tx =>
    {
        var invId = RandomNumberGenerator.GetBytes(AgentEnvelope.InvitationIdSize);
        var bobId = RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize);
        tx.InsertConnection(new ConnectionRecord("#gb", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
        tx.InsertMember(new MemberRecord(0, "g", bobId, "bob", "#gb", 2, MemberStatus.Invited, true, invId, null, "", false, false, 0, []));
        return (invId, bobId);
    });

    [Fact]
    public async Task Our_own_info_follows_our_hello_to_the_member_we_invited()
    {
        await _store.TransactAsync(tx => tx.SetOwnInfo("g", "Me"u8.ToArray()));
        var (invId, bobId) = await BobInvitedAsync();

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GJoin(invId, bobId), conn: "#gb");

        Assert.True(accepted);
        var toBob = _conns.Queued.Where(q => q.Alias == "#gb").Select(q => q.Envelope).ToList();
        Assert.IsType<AgentEnvelope.GHello>(toBob[0]);
        Assert.Equal("Me"u8.ToArray(), Assert.IsType<AgentEnvelope.GInfo>(toBob[1]).Info.ToArray());
    }

    [Fact]
    public async Task Without_an_own_info_no_info_follows_our_hello()
    {
        var (invId, bobId) = await BobInvitedAsync();

        await ApplyAsync(new AgentEnvelope.GJoin(invId, bobId), conn: "#gb");

        Assert.Contains(_conns.Queued, q => q.Envelope is AgentEnvelope.GHello);
        Assert.DoesNotContain(_conns.Queued, q => q.Envelope is AgentEnvelope.GInfo);
    }

    [Fact]
    public async Task A_changed_own_info_goes_only_to_live_members_we_have_greeted()
    {
        // Alice: connected. Carol: introduced, our G_HELLO queued. Frank: invited, no hello from us yet.
        // Erin: left. Only Alice and Carol get it now; Frank gets it after our hello, Erin never.
        await CarolBeingIntroducedAsync(RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize));
        await _store.TransactAsync(tx =>
        {
            tx.InsertConnection(new ConnectionRecord("#gf", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
            tx.InsertMember(new MemberRecord(0, "g", RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize), "frank", "#gf", 2,
                MemberStatus.Invited, true, RandomNumberGenerator.GetBytes(AgentEnvelope.InvitationIdSize), null, "", false, false, 0, []));
            tx.InsertConnection(new ConnectionRecord("#ge", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
            tx.InsertMember(new MemberRecord(0, "g", RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize), "erin", "#ge", 1,
                MemberStatus.Left, false, null, null, "", true, false, 0, []));
        });

        await _store.TransactAsync(tx => _handler.Infos.TellGreetedMembers(tx, "g", "New me"u8.ToArray(), new Effects()));

        Assert.Equal(["#ga", "#gc"], _conns.Queued.Select(q => q.Alias).Order(StringComparer.Ordinal));
        Assert.All(_conns.Queued, q => Assert.Equal("New me"u8.ToArray(), Assert.IsType<AgentEnvelope.GInfo>(q.Envelope).Info.ToArray()));
    }

    [Fact]
    public async Task Our_own_info_follows_the_hello_we_answer_with()
    {
        // Dave joined a queue of ours and spoke first; our answer carries our info after it.
        await _store.TransactAsync(tx => tx.SetOwnInfo("g", "Me"u8.ToArray()));
        var daveId = RandomNumberGenerator.GetBytes(AgentEnvelope.MemberIdSize);
        await _store.TransactAsync(tx =>
        {
            tx.InsertConnection(new ConnectionRecord("#gd", ConnectionKind.Group, ConnectionStatus.Active, Owner: "g"));
            tx.InsertMember(new MemberRecord(0, "g", daveId, "dave", "#gd", 1, MemberStatus.Joining, false, null,
                RandomNumberGenerator.GetBytes(AgentEnvelope.IntroductionIdSize), "#ga", false, false, 0, []));
        });

        var (accepted, _) = await ApplyAsync(new AgentEnvelope.GHello(daveId), conn: "#gd");

        Assert.True(accepted);
        // Our view (groups.md §6.11) comes after them.
        Assert.Equal([AgentEnvelopeKind.GHello, AgentEnvelopeKind.GInfo, AgentEnvelopeKind.GView],
            _conns.Queued.Where(q => q.Alias == "#gd").Select(q => q.Envelope.Kind));
    }
}
