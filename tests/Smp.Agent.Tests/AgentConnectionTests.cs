using System.Text;

namespace Smp.Agent.Tests;

public sealed class AgentConnectionTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task Two_agents_on_one_server_connect_and_exchange_messages_both_ways()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);

        Assert.Equal(1, await a.SendAsync("2", "bob", "hello"u8.ToArray()));
        Assert.Equal("SENT 1", (await alice.ExpectAsync("bob", "SENT")).Text());
        await a.SendAsync("3", "bob", "how are you?"u8.ToArray());
        var m1 = await bob.ExpectAsync("alice", "MSG");
        Assert.StartsWith("MSG OK R=1,", m1.Text());
        Assert.EndsWith(" 5\nhello", m1.Text());
        var m2 = await bob.ExpectAsync("alice", "MSG");
        Assert.StartsWith("MSG OK R=2,", m2.Text());
        Assert.Contains(" S=2,", m2.Text());

        Assert.Equal(3, await b.SendAsync("14", "alice", "hello too"u8.ToArray()));
        var m3 = await alice.ExpectAsync("bob", "MSG");
        Assert.StartsWith("MSG OK R=3,", m3.Text());
        Assert.EndsWith(" 9\nhello too", m3.Text());
    }

    [Fact]
    public async Task Two_agents_on_two_servers_connect()
    {
        var s1 = await _h.StartServerAsync("s1");
        var s2 = await _h.StartServerAsync("s2");
        var a = await _h.StartAgentAsync("a", s1);
        var b = await _h.StartAgentAsync("b", s2);
        var (alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        await b.SendAsync("1", "alice", Encoding.UTF8.GetBytes("über"));
        var m = await alice.ExpectAsync("bob", "MSG");
        Assert.EndsWith("\nüber", m.Text());
    }

    [Fact]
    public async Task A_join_without_reply_makes_a_one_way_connection_that_carries_messages()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var alice = a.Connect("alice");
        var bob = b.Connect("bob");
        var (_, inv) = await a.NewAsync(alice, "bob");
        await b.JoinAsync(bob, "j", "alice", inv, noReply: true);
        await b.SendAsync("s1", "alice", "one way"u8.ToArray());
        Assert.Equal("SENT 1", (await bob.ExpectAsync("alice", "SENT")).Text());
        Assert.EndsWith("\none way", (await alice.ExpectAsync("bob", "MSG")).Text());
        // Alice has no way back: her side is receive-only.
        var e = await Assert.ThrowsAsync<Protocol.Agent.AgentProtocolException>(() => a.SendAsync("s2", "bob", "x"u8.ToArray()));
        Assert.Equal("CONN SIMPLEX", e.Error.ToString());
    }

    [Fact]
    public async Task A_send_after_the_peer_suspended_its_queue_fails_with_smp_auth()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var (_, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        await a.SuspendAsync("bob");
        await b.SendAsync("17", "alice", "message 3"u8.ToArray());
        var err = await bob.ExpectAsync("alice", "ERR");
        Assert.Equal("17", err.CorrId);
        Assert.Equal("ERR SMP AUTH", err.Text());
        await a.DeleteAsync("bob");
    }
}

public sealed class InProcessApiTests : IAsyncLifetime
{
    private readonly AgentHarness _h = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _h.DisposeAsync();

    [Fact]
    public async Task An_app_hosting_agents_gets_typed_events_as_an_async_stream()
    {
        var (server, a, b) = await _h.ServerAndTwoAgentsAsync();
        var alice = a.Connect("alice");
        var bob = b.Connect("bob");
        using var cts = new CancellationTokenSource(TestSupport.Patience);
        var (_, inv) = await a.NewAsync(alice, "bob");
        await b.JoinAsync(bob, "j", "alice", inv, noReply: false);
        await using var bobEvents = b.EventsAsync(bob, cts.Token).GetAsyncEnumerator(cts.Token);
        await using var aliceEvents = a.EventsAsync(alice, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await bobEvents.MoveNextAsync());
        Assert.Equal(new AgentEvent("", "alice", new Protocol.Agent.AgentCommand.Con()), bobEvents.Current);
        Assert.True(await aliceEvents.MoveNextAsync());
        Assert.IsType<Protocol.Agent.AgentCommand.Con>(aliceEvents.Current.Command);
        await a.SendAsync("s1", "bob", "typed"u8.ToArray());
        Assert.True(await aliceEvents.MoveNextAsync());
        Assert.Equal(new AgentEvent("s1", "bob", new Protocol.Agent.AgentCommand.Sent(1)), aliceEvents.Current);
        Assert.True(await bobEvents.MoveNextAsync());
        var msg = Assert.IsType<Protocol.Agent.AgentCommand.Msg>(bobEvents.Current.Command);
        Assert.True(msg.Integrity.IsOk);
        Assert.Equal("typed"u8.ToArray(), msg.Body.ToArray());
    }
}
