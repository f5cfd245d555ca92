using System.Net;
using System.Net.Sockets;
using System.Text;
using Smp.Agent.Client;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Agent.Tests;

/// <summary>The agent's TCP client protocol with the reference's own scenarios (agent-ref.md §9).</summary>
public sealed partial class ClientProtocolTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();
    private readonly List<AgentListener> _listeners = [];
    private readonly List<AgentTcpClient> _clients = [];
    private static readonly TimeSpan Wait = TestSupport.Patience;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var c in _clients) await c.DisposeAsync();
        foreach (var l in _listeners) await l.DisposeAsync();
        await _h.DisposeAsync();
    }

    private async Task<int> AgentPortAsync(string name, params SmpServerAddress[] servers)
    {
        var agent = await _h.StartAgentAsync(name, servers);
        var listener = AgentListener.Start(agent, IPAddress.Loopback, 0);
        _listeners.Add(listener);
        return listener.Port;
    }

    private async Task<AgentTcpClient> ClientAsync(int port)
    {
        var c = await AgentTcpClient.ConnectAsync("127.0.0.1", port);
        _clients.Add(c);
        return c;
    }

    private static string Line(AgentTransmission t) => $"{t.CorrId}|{t.Alias}|{Encoding.ASCII.GetString(AgentWire.Payload(t.CommandOrError))}";

    private static async Task<AgentTransmission> ExpectAsync(AgentTcpClient c, string corrId, string alias, string prefix) =>
        await c.ExpectAsync(t => t.CorrId == corrId && t.Alias == alias && Line(t).StartsWith($"{corrId}|{alias}|{prefix}", StringComparison.Ordinal), Wait);

    private static async Task<SmpQueueInfo> ConnectAsync(AgentTcpClient alice, AgentTcpClient bob)
    {
        await alice.SendAsync("1", "bob", new AgentCommand.New());
        var inv = (AgentCommand.Inv)(await ExpectAsync(alice, "1", "bob", "INV")).Command!;
        await bob.SendAsync("11", "alice", new AgentCommand.Join(inv.QueueInfo));
        await ExpectAsync(bob, "", "alice", "CON");
        await ExpectAsync(alice, "", "bob", "CON");
        return inv.QueueInfo;
    }

    [Fact]
    public async Task The_agent_greets_with_its_welcome_line()
    {
        var server = await _h.StartServerAsync();
        var port = await AgentPortAsync("a", server);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        using var reader = new StreamReader(tcp.GetStream(), Encoding.ASCII);
        Assert.Equal("Welcome to SMP v0.3.1 agent", await reader.ReadLineAsync().WaitAsync(Wait));
    }

    [Fact]
    public async Task Duplex_connection_through_one_server_and_two_agents_as_the_reference_tests_it()
    {
        var server = await _h.StartServerAsync();
        var alice = await ClientAsync(await AgentPortAsync("a", server));
        var bob = await ClientAsync(await AgentPortAsync("b", server));
        await ConnectAsync(alice, bob);

        await alice.SendAsync("2", "bob", new AgentCommand.Send("hello"u8.ToArray()));
        await ExpectAsync(alice, "2", "bob", "SENT 1");
        await alice.SendRawAsync("3\r\nbob\r\nSEND :how are you?\r\n"u8.ToArray());
        await ExpectAsync(alice, "3", "bob", "SENT 2");
        var m1 = (AgentCommand.Msg)(await ExpectAsync(bob, "", "alice", "MSG OK R=1,")).Command!;
        Assert.Equal("hello", Encoding.ASCII.GetString(m1.Body.Span));
        var m2 = (AgentCommand.Msg)(await ExpectAsync(bob, "", "alice", "MSG OK R=2,")).Command!;
        Assert.Equal("how are you?", Encoding.ASCII.GetString(m2.Body.Span));

        await bob.SendRawAsync("14\r\nalice\r\nSEND 9\nhello too\r\n"u8.ToArray());
        await ExpectAsync(bob, "14", "alice", "SENT 3");
        await ExpectAsync(alice, "", "bob", "MSG OK R=3,");

        await alice.SendAsync("5", "bob", new AgentCommand.Off());
        await ExpectAsync(alice, "5", "bob", "OK");
        await bob.SendAsync("17", "alice", new AgentCommand.Send("message 3"u8.ToArray()));
        await ExpectAsync(bob, "17", "alice", "ERR SMP AUTH");
        await alice.SendAsync("6", "bob", new AgentCommand.Del());
        await ExpectAsync(alice, "6", "bob", "OK");
    }

    [Fact]
    public async Task Two_clients_of_one_agent_connect_to_each_other()
    {
        var server = await _h.StartServerAsync();
        var port = await AgentPortAsync("a", server);
        var alice = await ClientAsync(port);
        var bob = await ClientAsync(port);
        await ConnectAsync(alice, bob);
        await bob.SendAsync("1", "alice", new AgentCommand.Send("hi"u8.ToArray()));
        await ExpectAsync(alice, "", "bob", "MSG OK");
    }

    [Fact]
    public async Task A_client_subscribing_takes_the_connection_and_the_previous_one_gets_end()
    {
        var server = await _h.StartServerAsync();
        var alicePort = await AgentPortAsync("a", server);
        var alice1 = await ClientAsync(alicePort);
        var bob = await ClientAsync(await AgentPortAsync("b", server));
        await ConnectAsync(alice1, bob);
        var alice2 = await ClientAsync(alicePort);
        await alice2.SendAsync("21", "bob", new AgentCommand.Sub());
        await ExpectAsync(alice2, "21", "bob", "OK");
        await ExpectAsync(alice1, "", "bob", "END");
        await bob.SendAsync("1", "alice", new AgentCommand.Send("hi"u8.ToArray()));
        await ExpectAsync(alice2, "", "bob", "MSG OK");
    }

    [Theory]
    [InlineData("1\r\n5678\r\nHELLO\r\n", "1|5678|ERR CMD SYNTAX")]
    [InlineData("222\r\n\r\nNEW hi\r\n", "222||ERR CMD SYNTAX")]
    [InlineData("321\r\n\r\nJOIN\r\n", "321||ERR CMD SYNTAX")]
    [InlineData("4\r\nbob\r\nOK\r\n", "4|bob|ERR CMD PROHIBITED")]
    [InlineData("5\r\n\r\nSEND :x\r\n", "5||ERR CMD NO_CONN")]
    [InlineData("6\r\nnobody\r\nSEND :x\r\n", "6|nobody|ERR CONN UNKNOWN")]
    [InlineData("7\r\nnobody\r\nSUB\r\n", "7|nobody|ERR CONN UNKNOWN")]
    [InlineData("8\r\nbob\r\nSEND x1\r\n", "8|bob|ERR CMD SIZE")]
    [InlineData("9\r\ng\r\nGSEND :x\r\n", "9|g|ERR GROUP UNKNOWN")]
    public async Task Malformed_commands_get_the_reference_errors_and_the_session_goes_on(string raw, string expected)
    {
        var server = await _h.StartServerAsync();
        var c = await ClientAsync(await AgentPortAsync("a", server));
        await c.SendRawAsync(Encoding.ASCII.GetBytes(raw));
        var t = await c.ExpectAsync(_ => true, Wait);
        Assert.Equal(expected, Line(t));
        await c.SendAsync("99", "next", new AgentCommand.New());
        await ExpectAsync(c, "99", "next", "INV smp::");
    }

    [Fact]
    public async Task Joining_a_queue_the_server_does_not_know_fails_with_smp_auth()
    {
        var server = await _h.StartServerAsync();
        var c = await ClientAsync(await AgentPortAsync("a", server));
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var bogus = new SmpQueueInfo(server, [0xd7, 0x6d, 0xf8], key.ExportSubjectPublicKeyInfo());
        await c.SendAsync("311", "", new AgentCommand.Join(bogus));
        var t = await c.ExpectAsync(x => x.CorrId == "311", Wait);
        Assert.Equal("ERR SMP AUTH", Encoding.ASCII.GetString(AgentWire.Payload(t.CommandOrError)));
    }

    [Fact]
    public async Task A_client_sending_an_oversized_line_and_garbage_gets_errors_and_can_still_work()
    {
        var server = await _h.StartServerAsync();
        var c = await ClientAsync(await AgentPortAsync("a", server));
        await c.SendRawAsync(Encoding.ASCII.GetBytes("1\r\nx\r\nSEND :" + new string('a', 70_000) + "\r\n"));
        Assert.Equal("1|x|ERR CMD LARGE", Line(await c.ExpectAsync(_ => true, Wait)));
        // A body over the limit is refused and its bytes skipped, so the stream stays in step.
        await c.SendRawAsync(Encoding.ASCII.GetBytes("2\r\nx\r\nSEND 70000\r\n" + new string('b', 70_000) + "\r\n"));
        Assert.Equal("2|x|ERR CMD LARGE", Line(await c.ExpectAsync(_ => true, Wait)));
        await c.SendRawAsync(new byte[] { 0xff, 0xfe, 0x00, (byte)'\n', (byte)'\n', (byte)'\n' });
        await c.ExpectAsync(_ => true, Wait);
        await c.SendAsync("3", "fine", new AgentCommand.New());
        await ExpectAsync(c, "3", "fine", "INV smp::");
    }

    [Fact]
    public async Task Groups_work_over_the_client_protocol()
    {
        var server = await _h.StartServerAsync();
        var alice = await ClientAsync(await AgentPortAsync("a", server));
        var bob = await ClientAsync(await AgentPortAsync("b", server));
        await ConnectAsync(alice, bob);
        await alice.SendRawAsync("g1\r\nteam\r\nGNEW :the team\r\n"u8.ToArray());
        await ExpectAsync(alice, "g1", "team", "OK");
        await alice.SendAsync("g2", "team", new AgentCommand.GAdd("bob"));
        await ExpectAsync(alice, "g2", "team", "OK");
        var ginv = (AgentCommand.GInv)(await ExpectAsync(bob, "", "alice", "GINV")).Command!;
        Assert.Equal("the team", Encoding.ASCII.GetString(ginv.GroupInfo.Span));
        await bob.SendAsync("g3", "", new AgentCommand.GJoin(ginv.InvitationId));
        var joined = await bob.ExpectAsync(t => t.CorrId == "g3", Wait);
        Assert.IsType<AgentCommand.Ok>(joined.Command);
        var gid = joined.Alias;
        await ExpectAsync(alice, "", "team", "GALL bob");
        await ExpectAsync(bob, "", gid, "GALL alice");
        await bob.SendRawAsync(Encoding.ASCII.GetBytes($"g4\r\n{gid}\r\nGSEND 5\r\nhello\r\n"));
        await ExpectAsync(bob, "g4", gid, "GSENT ");
        var gmsg = (AgentCommand.GMsg)(await ExpectAsync(alice, "", "team", "GMSG bob OK S=1,")).Command!;
        Assert.Equal("hello", Encoding.ASCII.GetString(gmsg.Body.Span));
        await alice.SendAsync("g5", "team", new AgentCommand.GMembers());
        await ExpectAsync(alice, "g5", "team", "GMEM bob ");
        await ExpectAsync(alice, "g5", "team", "OK");
    }

    [Fact]
    public async Task A_declined_invitation_reaches_the_inviter_as_grejected()
    {
        var server = await _h.StartServerAsync();
        var alice = await ClientAsync(await AgentPortAsync("a", server));
        var bob = await ClientAsync(await AgentPortAsync("b", server));
        await ConnectAsync(alice, bob);
        await alice.SendAsync("1", "team", new AgentCommand.GNew("x"u8.ToArray()));
        await ExpectAsync(alice, "1", "team", "OK");
        await alice.SendAsync("2", "team", new AgentCommand.GAdd("bob"));
        var ginv = (AgentCommand.GInv)(await ExpectAsync(bob, "", "alice", "GINV")).Command!;
        await bob.SendAsync("3", "alice", new AgentCommand.GReject(ginv.InvitationId));
        await ExpectAsync(bob, "3", "alice", "OK");
        await ExpectAsync(alice, "", "team", "GREJECTED bob");
        await bob.SendAsync("4", "", new AgentCommand.GJoin(ginv.InvitationId));
        await ExpectAsync(bob, "4", "", "ERR GROUP UNKNOWN");
    }

    [Fact]
    public async Task Sub_answers_ok_before_the_events_that_waited_for_a_client()
    {
        var server = await _h.StartServerAsync();
        var alicePort = await AgentPortAsync("a", server);
        var alice = await ClientAsync(alicePort);
        var bob = await ClientAsync(await AgentPortAsync("b", server));
        await ConnectAsync(alice, bob);
        await alice.DisposeAsync();
        _clients.Remove(alice);
        for (var i = 1; i <= 2; i++)
        {
            await bob.SendAsync($"s{i}", "alice", new AgentCommand.Send(Encoding.ASCII.GetBytes($"m{i}")));
            await ExpectAsync(bob, $"s{i}", "alice", "SENT");
        }
        var later = await ClientAsync(alicePort);
        await later.SendAsync("21", "bob", new AgentCommand.Sub());
        Assert.Equal("21|bob|OK", Line(await later.ExpectAsync(_ => true, Wait)));
        Assert.StartsWith("|bob|MSG OK", Line(await later.ExpectAsync(_ => true, Wait)), StringComparison.Ordinal);
        Assert.StartsWith("|bob|MSG OK", Line(await later.ExpectAsync(_ => true, Wait)), StringComparison.Ordinal);
    }
}
