using System.Net;
using System.Text;
using Smp.Agent.Client;
using Smp.Protocol.Agent;

namespace Smp.Agent.Tests;

/// <summary>
/// Events are kept until a holder's front end has written them (agent.md §2.1, §3), exercised through the
/// real delivered paths: the in-process event stream and the TCP write loop.
/// </summary>
public sealed class EventDeliveryTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TestSupport.Patience;
    private readonly AgentHarness _h = new();
    private SmpAgent _a = null!;
    private SmpAgent _b = null!;
    private ClientSession _alice = null!;

    public async Task InitializeAsync()
    {
        var (_, a, b) = await _h.ServerAndTwoAgentsAsync();
        (_a, _b) = (a, b);
        ClientSession bob;
        (_alice, bob) = await SessionExtensions.ConnectAliceAndBobAsync(a, b);
        // Nobody holds Bob's end now: what Alice sends waits in Bob's store.
        _b.Disconnect(bob);
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private async Task AliceSendsAsync(params string[] texts)
    {
        foreach (var t in texts)
        {
            await _a.SendAsync("s-" + t, "bob", Encoding.UTF8.GetBytes(t));
            await _alice.ExpectAsync("bob", "SENT");
        }
    }

    private static string Body(AgentCommand c) => Encoding.UTF8.GetString(((AgentCommand.Msg)c).Body.Span);

    /// <summary>A new in-process client of Bob's agent that takes the connection and reads <paramref name="count"/> events, then stops.</summary>
    private async Task<List<string>> ReadThenStopAsync(int count)
    {
        var session = _b.Connect("bob");
        await _b.SubscribeAsync(session, "alice");
        var bodies = new List<string>();
        await foreach (var e in _b.EventsAsync(session).WithCancellation(new CancellationTokenSource(Wait).Token))
        {
            if (e.Command is AgentCommand.Msg) bodies.Add(Body(e.Command));
            if (bodies.Count == count) break;
        }
        return bodies;
    }

    [Fact]
    public async Task An_event_the_app_took_but_never_asked_past_is_given_again_to_the_next_client()
    {
        await AliceSendsAsync("one", "two");

        // The app stops right after taking "one": it may not have handled it, so it is not dropped.
        Assert.Equal(["one"], await ReadThenStopAsync(1));
        // The next client takes "one" again, then "two": asking for "two" means "one" was handled.
        Assert.Equal(["one", "two"], await ReadThenStopAsync(2));
        // So the next one starts at "two".
        Assert.Equal(["two"], await ReadThenStopAsync(1));
    }

    [Fact]
    public async Task Events_written_to_a_tcp_client_are_not_written_again_and_unwritten_ones_wait()
    {
        var listener = AgentListener.Start(_b, IPAddress.Loopback, 0);
        await using var _ = listener;
        await AliceSendsAsync("one");

        await using (var first = await AgentTcpClient.ConnectAsync("127.0.0.1", listener.Port))
        {
            await first.RequestAsync("alice", new AgentCommand.Sub(), Wait);
            var one = await first.ExpectAsync(t => t.Command is AgentCommand.Msg, Wait);
            Assert.Equal("one", Body(one.Command!));
            // The write loop handles outputs in order, so when this answer arrives "one" has been reported written.
            await first.RequestAsync("nobody", new AgentCommand.Send("x"u8.ToArray()), Wait);
        }
        await AliceSendsAsync("two");

        await using var second = await AgentTcpClient.ConnectAsync("127.0.0.1", listener.Port);
        await second.RequestAsync("alice", new AgentCommand.Sub(), Wait);
        var next = await second.ExpectAsync(t => t.Command is AgentCommand.Msg, Wait);
        Assert.Equal("two", Body(next.Command!));
    }
}
