using System.Text;
using Smp.Agent.Client;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>Member info over the TCP client protocol (groups.md §2, §3): the wire forms, and oversized ones refused.</summary>
public sealed partial class ClientProtocolTests
{
    [Fact]
    public async Task Member_infos_travel_in_gnew_gjoin_gminfo_and_gmem_and_oversized_ones_get_cmd_large()
    {
        var server = await _h.StartServerAsync();
        var alice = await ClientAsync(await AgentPortAsync("a", server));
        var bob = await ClientAsync(await AgentPortAsync("b", server));
        await ConnectAsync(alice, bob);

        // Too big: refused, nothing made, and the stream stays in step.
        var tooBig = Convert.ToBase64String(new byte[SmpAgent.MaxMemberInfoSize + 1]);
        await alice.SendRawAsync(Encoding.ASCII.GetBytes($"n0\r\nteam\r\nGNEW I={tooBig} :the team\r\n"));
        Assert.Equal("n0|team|ERR CMD LARGE", Line(await alice.ExpectAsync(_ => true, Wait)));
        await alice.SendAsync("n1", "team", new AgentCommand.GMembers());
        await ExpectAsync(alice, "n1", "team", "ERR GROUP UNKNOWN");

        // "Alice" = QWxpY2U=
        await alice.SendRawAsync("n2\r\nteam\r\nGNEW I=QWxpY2U= :the team\r\n"u8.ToArray());
        await ExpectAsync(alice, "n2", "team", "OK");
        await alice.SendAsync("n3", "team", new AgentCommand.GAdd("bob"));
        var ginv = (AgentCommand.GInv)(await ExpectAsync(bob, "", "alice", "GINV")).Command!;
        var invId = Convert.ToBase64String(ginv.InvitationId);
        await bob.SendRawAsync(Encoding.ASCII.GetBytes($"j1\r\nteam\r\nGJOIN {invId} {SmpAgent.MaxMemberInfoSize + 1}\r\n{new string('x', SmpAgent.MaxMemberInfoSize + 1)}\r\n"));
        Assert.Equal("j1|team|ERR CMD LARGE", Line(await bob.ExpectAsync(_ => true, Wait)));
        await bob.SendRawAsync(Encoding.ASCII.GetBytes($"j2\r\nteam\r\nGJOIN {invId} 3\r\nBob\r\n"));
        await ExpectAsync(bob, "j2", "team", "OK");

        Assert.Equal("Bob", Encoding.ASCII.GetString(((AgentCommand.GMInfo)(await ExpectAsync(alice, "", "team", "GMINFO bob 3\nBob")).Command!).Info.Span));
        await ExpectAsync(bob, "", "team", "GMINFO alice 5\nAlice");
        await ExpectAsync(alice, "", "team", "GALL bob");
        await alice.SendAsync("n4", "team", new AgentCommand.GMembers());
        var gmem = (AgentCommand.GMem)(await ExpectAsync(alice, "n4", "team", "GMEM bob ")).Command!;
        Assert.Equal((GroupMemberStatus.Connected, "Bob"), (gmem.Status, Encoding.ASCII.GetString(gmem.Info.Span)));
        await ExpectAsync(alice, "n4", "team", "OK");
    }
}
